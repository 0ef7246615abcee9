"""Energy dashboard preferences in the format of the Home Assistant that takes them.

The one place that knows how the preferences differ between releases, for the demo
(``scripts/develop``), the end-to-end test and the energy dashboard tests:

- up to 2025.11 the grid is one source with a ``flow_from`` list (import meters) and a
  ``flow_to`` list (export meters);
- from 2025.12 each grid connection is a source of its own, one import/export pair
  with its prices (and optionally a power sensor); ``energy/save_prefs`` refuses the
  old format.
"""

from __future__ import annotations

from dataclasses import dataclass
import re
from typing import Any

GRID_CONNECTIONS_SINCE = (2025, 12)
"""The first release whose grid sources are connections (import/export pairs)."""


@dataclass(frozen=True, kw_only=True)
class EnergySensors:
    """The entity ids that feed the energy dashboard, by role."""

    grid_import: str
    grid_export: str
    solar: str
    battery_charge: str | None = None
    battery_discharge: str | None = None


def release(version: str) -> tuple[int, int]:
    """Return the release (year, month) of a Home Assistant version, e.g. "2026.10.4"."""
    match = re.match(r"(\d+)\.(\d+)", version)
    if match is None:
        raise ValueError(f"Not a Home Assistant version: {version!r}")
    return int(match[1]), int(match[2])


def takes_grid_connections(version: str) -> bool:
    """Return whether Home Assistant ``version`` takes one grid source per pair."""
    return release(version) >= GRID_CONNECTIONS_SINCE


def energy_preferences(sensors: EnergySensors, version: str) -> dict[str, Any]:
    """Return preferences for ``energy/save_prefs`` of Home Assistant ``version``.

    Grid and solar always; the battery when both of its sensors are given.
    """
    sources = [
        _grid_source(sensors, version),
        {
            "type": "solar",
            "stat_energy_from": sensors.solar,
            "config_entry_solar_forecast": None,
        },
    ]
    if sensors.battery_charge is not None and sensors.battery_discharge is not None:
        sources.append(
            {
                "type": "battery",
                "stat_energy_from": sensors.battery_discharge,
                "stat_energy_to": sensors.battery_charge,
            }
        )
    return {"energy_sources": sources, "device_consumption": []}


def no_issues(
    preferences: dict[str, Any], validation: dict[str, Any]
) -> dict[str, Any]:
    """Return what ``energy/validate`` answers for ``preferences`` if all is well.

    One empty list of issues per source and per device; newer releases also answer
    for water-consuming devices (none here), which ``validation`` shows.
    """
    expected: dict[str, Any] = {
        "energy_sources": [[] for _ in preferences["energy_sources"]],
        "device_consumption": [[] for _ in preferences["device_consumption"]],
    }
    if "device_consumption_water" in validation:
        expected["device_consumption_water"] = [
            [] for _ in preferences.get("device_consumption_water", [])
        ]
    return expected


def _grid_source(sensors: EnergySensors, version: str) -> dict[str, Any]:
    if takes_grid_connections(version):
        return {
            "type": "grid",
            "stat_energy_from": sensors.grid_import,
            "stat_energy_to": sensors.grid_export,
            "stat_cost": None,
            "entity_energy_price": None,
            "number_energy_price": None,
            "stat_compensation": None,
            "entity_energy_price_export": None,
            "number_energy_price_export": None,
            "cost_adjustment_day": 0.0,
        }
    return {
        "type": "grid",
        "flow_from": [
            {
                "stat_energy_from": sensors.grid_import,
                "stat_cost": None,
                "entity_energy_price": None,
                "number_energy_price": None,
            }
        ],
        "flow_to": [
            {
                "stat_energy_to": sensors.grid_export,
                "stat_compensation": None,
                "entity_energy_price": None,
                "number_energy_price": None,
            }
        ],
        "cost_adjustment_day": 0.0,
    }
