"""Run a real Home Assistant with the integration against the Sunvec cloud simulator.

Shared by ``scripts/develop`` (the dev instance), ``scripts/screenshots`` and the
end-to-end test in ``tests/e2e``. Nothing here ships to users.
"""
