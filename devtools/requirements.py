"""Print what a dev instance of the installed Home Assistant imports, as pip requirements.

``scripts/develop`` and the end-to-end test start ``hass --skip-pip``: offline, it
installs nothing and sets up only what it can import. That is the frontend and every
integration that Home Assistant sets up by itself, plus those ``configuration.yaml``
names, with what they import. From 2026.x the ones it sets up by itself include
the base platforms (camera, conversation, tts, ...), whose requirements the test
harness lacks; missing, each fails with a traceback in the log.

Prints the requirements of all of these, at the versions the installed Home
Assistant pins in its manifests (``scripts/setup --newest`` installs them).
Usage: ``python -m devtools.requirements [configuration.yaml]``.
"""

# ruff: noqa: T201 (a command-line program: it prints the requirements)

from __future__ import annotations

import json
from pathlib import Path
import sys
from typing import Any

from homeassistant import bootstrap
import homeassistant.components
from homeassistant.requirements import DISCOVERY_INTEGRATIONS
import yaml

from devtools.processes import CONFIG_TEMPLATE

COMPONENTS = Path(homeassistant.components.__path__[0])


def integrations_set_up(configuration: Path) -> set[str]:
    """Return the integrations ``hass`` sets up on ``configuration`` by itself or by name."""
    config = yaml.safe_load(configuration.read_text()) or {}
    # "domain name:" keys configure a platform or package of the domain.
    return (
        set(bootstrap.CORE_INTEGRATIONS)
        | set(bootstrap.DEFAULT_INTEGRATIONS)
        | {str(key).split()[0] for key in config}
    )


def integrations_imported(domains: set[str]) -> set[str]:
    """Return ``domains`` and all whose requirements setting them up installs.

    As Home Assistant's requirements manager does (homeassistant/requirements.py):
    their dependencies and after-dependencies, and the discovery integrations whose
    keys their manifests have, on and on.
    """
    wanted, found = set(domains), set[str]()
    while wanted:
        domain = wanted.pop()
        found.add(domain)
        manifest = _manifest(domain)
        wanted |= {
            *manifest.get("dependencies", []),
            *manifest.get("after_dependencies", []),
            *(
                discovery
                for discovery, keys in DISCOVERY_INTEGRATIONS.items()
                if any(key in manifest for key in keys)
            ),
        } - found
    return found


def requirements(domains: set[str]) -> list[str]:
    """Return the pip requirements of the built-in integrations among ``domains``."""
    return sorted(
        {
            requirement
            for domain in domains
            for requirement in _manifest(domain).get("requirements", [])
        }
    )


def _manifest(domain: str) -> dict[str, Any]:
    path = COMPONENTS / domain / "manifest.json"
    if not path.exists():  # a custom integration, or a test helper
        return {}
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


def main(argv: list[str]) -> int:
    """Print the requirements, one a line."""
    configuration = Path(argv[0]) if argv else CONFIG_TEMPLATE
    domains = integrations_imported(integrations_set_up(configuration))
    print("\n".join(requirements(domains)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
