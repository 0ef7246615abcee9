"""Benchmarks of the integration against the simulated cloud, on a virtual clock.

Run them with ``scripts/bench_polling`` and ``scripts/bench_energy``; the plain
``pytest`` run (``testpaths = ["tests"]``) never collects them.
"""
