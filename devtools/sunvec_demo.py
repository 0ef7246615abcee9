"""The demo set-up: an owner, the simulator's hybrid inverter, the energy dashboard."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from devtools.energy_dashboard import EnergySensors, energy_preferences, inverted
from devtools.home_assistant import (
    HomeAssistantClient,
    HomeAssistantError,
    WebsocketCommandError,
)
from sunvec_simulator import DEMO_TOKEN, DEMO_TOKEN_2, DEMO_WIFI_SN

DOMAIN = "sunvec"


@dataclass(frozen=True, kw_only=True)
class Owner:
    """The person who onboards the instance and logs in."""

    name: str
    username: str
    password: str


DEMO_OWNER = Owner(name="Demo", username="demo", password="sunvec-demo")  # noqa: S106


@dataclass(frozen=True, kw_only=True)
class DemoPlant:
    """A simulated hybrid inverter of the demo cloud, and where it stands."""

    wifi_sn: str
    token: str
    time_zone: str
    latitude: float
    longitude: float
    country: str


# The demo's hybrid inverters (sunvec_simulator.demo): Amsterdam by default, Sydney
# for a sunny day while it is night in Europe.
PLANTS = {
    "amsterdam": DemoPlant(
        wifi_sn=DEMO_WIFI_SN,
        token=DEMO_TOKEN,
        time_zone="Europe/Amsterdam",
        latitude=52.37,
        longitude=4.90,
        country="NL",
    ),
    "sydney": DemoPlant(
        wifi_sn="SVDEMOHYB2",
        token=DEMO_TOKEN_2,
        time_zone="Australia/Sydney",
        latitude=-33.87,
        longitude=151.21,
        country="AU",
    ),
}

# The integration's sensors the energy dashboard uses, by entity description key.
GRID_IMPORT = "grid_import_energy"
GRID_EXPORT = "grid_export_energy"
GRID_POWER = "feed_in_power"
PV_ENERGY = "pv_energy"
PV_POWER = "pv_power"
TOTAL_YIELD = "yield_total"
BATTERY_CHARGE = "battery_charge_energy"
BATTERY_DISCHARGE = "battery_discharge_energy"
BATTERY_POWER = "battery_power"
BATTERY_LEVEL = "battery_soc"


async def add_inverter(
    client: HomeAssistantClient,
    api_address: str,
    token: str = DEMO_TOKEN,
    wifi_sn: str = DEMO_WIFI_SN,
) -> dict[str, Any]:
    """Add an inverter through the config flow, as a user does; return the result.

    Expects the form for a new account (no Sunvec entry configured yet).
    """
    step = await client.start_config_flow(DOMAIN)
    if step.get("step_id") != "new_account":
        raise HomeAssistantError(f"Expected the new_account form, got {step}")
    return await client.submit_config_flow(
        step["flow_id"],
        {"api_address": api_address, "token": token, "wifi_sn": wifi_sn},
    )


async def inverter_entities(
    client: HomeAssistantClient,
    wifi_sn: str = DEMO_WIFI_SN,
    *,
    enabled_only: bool = False,
) -> dict[str, str]:
    """Return the entity ids of one inverter's entities, by entity description key."""
    registry = await client.websocket_command("config/entity_registry/list")
    prefix = f"{wifi_sn}_"
    return {
        entry["unique_id"].removeprefix(prefix): entry["entity_id"]
        for entry in registry
        if entry["platform"] == DOMAIN
        and entry["unique_id"].startswith(prefix)
        and (entry["disabled_by"] is None or not enabled_only)
    }


async def wait_for_numbers(
    client: HomeAssistantClient, entity_ids: list[str]
) -> dict[str, float]:
    """Wait until every entity in ``entity_ids`` has a number as its state.

    Bound it with ``asyncio.timeout``.

    Returns:
        The state of each entity.
    """
    while True:
        states = {state["entity_id"]: state["state"] for state in await client.states()}
        numbers = {
            entity_id: number
            for entity_id in entity_ids
            if (number := _number(states.get(entity_id))) is not None
        }
        if len(numbers) == len(entity_ids):
            return numbers
        await asyncio.sleep(1)


def energy_sensors(entities: dict[str, str]) -> EnergySensors:
    """Return the sensors of one inverter that feed the whole energy dashboard.

    ``entities`` are its enabled entity ids by entity description key. The solar
    production is the inverter's own meter (total yield) on a grid-tied inverter,
    and PV energy on a hybrid one: there the AC yield holds what the battery gives
    back, which the battery's own sensors count. Power sensors for the live power
    flow: PV power, the feed-in power (+ exporting: the dashboard's opposite sign)
    and the battery power (+ charging: likewise); the battery's level.
    """
    battery = BATTERY_CHARGE in entities and BATTERY_DISCHARGE in entities
    return EnergySensors(
        grid_import=entities[GRID_IMPORT],
        grid_export=entities[GRID_EXPORT],
        grid_power=inverted(entities[GRID_POWER]) if GRID_POWER in entities else None,
        solar=entities[PV_ENERGY if battery else TOTAL_YIELD],
        solar_power=entities.get(PV_POWER),
        battery_charge=entities[BATTERY_CHARGE] if battery else None,
        battery_discharge=entities[BATTERY_DISCHARGE] if battery else None,
        battery_power=inverted(entities[BATTERY_POWER])
        if battery and BATTERY_POWER in entities
        else None,
        battery_level=entities.get(BATTERY_LEVEL) if battery else None,
    )


async def set_up_demo(
    client: HomeAssistantClient,
    api_address: str,
    plant: DemoPlant = PLANTS["amsterdam"],
) -> list[str]:
    """Bring an instance to the demo: idempotent, so a second run changes nothing.

    Onboards as ``DEMO_OWNER`` unless done, logs in as the owner, adds the plant's
    hybrid inverter unless a Sunvec entry exists, and points an empty energy
    dashboard at it, in the format of the running Home Assistant. Bound it with
    ``asyncio.timeout``.

    Returns:
        What was done, for the user to read.
    """
    done = []
    onboarded = await client.onboard(
        DEMO_OWNER.name, DEMO_OWNER.username, DEMO_OWNER.password
    )
    if onboarded:
        done.append(f"onboarded with the owner {DEMO_OWNER.username!r}")
    # Through the login form's flow, also right after onboarding: it must work.
    await client.login(DEMO_OWNER.username, DEMO_OWNER.password)
    await client.wait_until_running()
    if await confirm_http_config(client):
        done.append("confirmed the HTTP settings")

    if not await client.config_entries(DOMAIN):
        result = await add_inverter(client, api_address, plant.token, plant.wifi_sn)
        if result.get("type") != "create_entry":
            raise HomeAssistantError(f"Adding the inverter failed: {result}")
        done.append(f"added the inverter {result['title']} ({plant.wifi_sn})")

    if not await _energy_sources(client):
        while True:
            entities = await inverter_entities(client, plant.wifi_sn, enabled_only=True)
            if {GRID_IMPORT, GRID_EXPORT, PV_ENERGY, TOTAL_YIELD} <= entities.keys():
                break
            await asyncio.sleep(1)
        preferences = energy_preferences(
            energy_sensors(entities), await client.version()
        )
        await client.websocket_command("energy/save_prefs", **preferences)
        done.append("configured the energy dashboard")
    return done


async def confirm_http_config(client: HomeAssistantClient) -> bool:
    """Confirm the HTTP settings that Home Assistant is trying; return whether it was.

    From 2026.x Home Assistant moves ``http:`` of configuration.yaml (the demo's
    loopback address) into its store as settings on trial, and goes back to its
    defaults with a restart if nobody confirms them within five minutes; we are
    talking to it through them, so they work. Older releases know no such trial.
    """
    try:
        await client.websocket_command("http/config/promote")
    except WebsocketCommandError as err:
        if err.code in ("unknown_command", "not_allowed"):  # none, or none on trial
            return False
        raise
    return True


async def inverter_device_id(
    client: HomeAssistantClient, wifi_sn: str | None = None
) -> str | None:
    """Return the id of an inverter's device (for its page), or None if absent.

    The inverter with the registration number ``wifi_sn``, or the first one.
    """
    devices = await client.websocket_command("config/device_registry/list")
    for device in devices:
        for domain, identifier in device["identifiers"]:
            if domain == DOMAIN and wifi_sn in (None, identifier):
                device_id: str = device["id"]
                return device_id
    return None


async def _energy_sources(client: HomeAssistantClient) -> list[dict[str, Any]]:
    try:
        preferences = await client.websocket_command("energy/get_prefs")
    except WebsocketCommandError as err:
        if err.code == "not_found":  # never saved
            return []
        raise
    sources: list[dict[str, Any]] = preferences["energy_sources"]
    return sources


def _number(state: str | None) -> float | None:
    try:
        return float(state)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
