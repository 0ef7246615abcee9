"""Energy dashboard preferences in the format of the Home Assistant that takes them.

The one place that knows how the preferences differ between releases, for the demo
(``scripts/develop``), the end-to-end test and the energy dashboard tests:

- up to 2025.11 the grid is one source with a ``flow_from`` list (import meters) and a
  ``flow_to`` list (export meters);
- from 2025.12 each grid connection is a source of its own, one import/export pair
  with its prices; ``energy/save_prefs`` refuses the old format. Grid, solar and
  battery also take a power sensor, for the live power flow: the grid and the
  battery as a ``power_config`` (``stat_rate`` with the dashboard's sign,
  ``stat_rate_inverted`` for the opposite sign, or a ``stat_rate_from`` /
  ``stat_rate_to`` pair of positive sensors), the solar as a plain ``stat_rate``;
- from 2026.6 a battery takes its state of charge (``stat_soc``).

Older releases get what they take and nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
import re
from typing import Any

GRID_CONNECTIONS_SINCE = (2025, 12)
"""The first release whose grid sources are connections (import/export pairs)."""
POWER_SINCE = (2025, 12)
"""The first release whose sources take power sensors (the live power flow)."""
BATTERY_LEVEL_SINCE = (2026, 6)
"""The first release whose batteries take their state of charge."""

type PowerConfig = dict[str, str]
"""A grid's or a battery's power sensors, as ``power_config`` takes them."""


def inverted(entity_id: str) -> PowerConfig:
    """Return a power sensor whose sign is the dashboard's opposite.

    The dashboard counts power from the grid and out of the battery as positive;
    the inverter's feed-in power is + when exporting, its battery power + when
    charging.
    """
    return {"stat_rate_inverted": entity_id}


def from_and_to(power_from: str, power_to: str) -> PowerConfig:
    """Return two positive power sensors: from the grid (battery) and to it."""
    return {"stat_rate_from": power_from, "stat_rate_to": power_to}


@dataclass(frozen=True, kw_only=True)
class EnergySensors:
    """The entity ids that feed the energy dashboard, by role."""

    grid_import: str
    grid_export: str
    solar: str
    battery_charge: str | None = None
    battery_discharge: str | None = None
    grid_power: PowerConfig | None = None
    solar_power: str | None = None
    battery_power: PowerConfig | None = None
    battery_level: str | None = None


def release(version: str) -> tuple[int, int]:
    """Return the release (year, month) of a Home Assistant version, e.g. "2026.10.4"."""
    match = re.match(r"(\d+)\.(\d+)", version)
    if match is None:
        raise ValueError(f"Not a Home Assistant version: {version!r}")
    return int(match[1]), int(match[2])


def takes_grid_connections(version: str) -> bool:
    """Return whether Home Assistant ``version`` takes one grid source per pair."""
    return release(version) >= GRID_CONNECTIONS_SINCE


def takes_power(version: str) -> bool:
    """Return whether Home Assistant ``version`` takes power sensors."""
    return release(version) >= POWER_SINCE


def takes_battery_level(version: str) -> bool:
    """Return whether Home Assistant ``version`` takes a battery's level."""
    return release(version) >= BATTERY_LEVEL_SINCE


def energy_preferences(sensors: EnergySensors, version: str) -> dict[str, Any]:
    """Return preferences for ``energy/save_prefs`` of Home Assistant ``version``.

    Grid and solar always; the battery when both of its sensors are given; the
    power sensors and the battery's level where the release takes them.
    """
    power = takes_power(version)
    solar: dict[str, Any] = {
        "type": "solar",
        "stat_energy_from": sensors.solar,
        "config_entry_solar_forecast": None,
    }
    if power and sensors.solar_power is not None:
        solar["stat_rate"] = sensors.solar_power
    sources = [_grid_source(sensors, version), solar]
    if sensors.battery_charge is not None and sensors.battery_discharge is not None:
        battery: dict[str, Any] = {
            "type": "battery",
            "stat_energy_from": sensors.battery_discharge,
            "stat_energy_to": sensors.battery_charge,
        }
        if power and sensors.battery_power is not None:
            battery["power_config"] = sensors.battery_power
        if takes_battery_level(version) and sensors.battery_level is not None:
            battery["stat_soc"] = sensors.battery_level
        sources.append(battery)
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
        power = (
            {"power_config": sensors.grid_power}
            if takes_power(version) and sensors.grid_power is not None
            else {}
        )
        return power | {
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
