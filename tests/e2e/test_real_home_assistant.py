"""A real Home Assistant process, set up over its own APIs, against the simulator.

What a user does, through the REST and websocket calls the frontend makes: onboard,
add the inverter, see its sensors, point the energy dashboard at them.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from devtools.energy_dashboard import energy_preferences, no_issues
from devtools.home_assistant import HomeAssistantClient
from devtools.sunvec_demo import (
    DEMO_OWNER,
    DOMAIN,
    add_inverter,
    confirm_http_config,
    energy_sensors,
    inverter_entities,
    set_up_demo,
    wait_for_numbers,
)

STEP_TIMEOUT = 20


@pytest.mark.e2e
async def test_add_the_inverter_and_feed_the_energy_dashboard(
    simulator_address: str, home_assistant_url: str
) -> None:
    async with aiohttp.ClientSession() as session:
        client = HomeAssistantClient(session, home_assistant_url)
        async with asyncio.timeout(STEP_TIMEOUT):
            await client.wait_until_up()
            assert await client.onboard(
                DEMO_OWNER.name, DEMO_OWNER.username, DEMO_OWNER.password
            )
            await client.login(DEMO_OWNER.username, DEMO_OWNER.password)
            await client.wait_until_running()
            # 2026.x tries the http: settings of configuration.yaml until confirmed.
            await confirm_http_config(client)

        async with asyncio.timeout(STEP_TIMEOUT):
            result = await add_inverter(client, simulator_address)
            assert result["type"] == "create_entry"
            assert result["result"]["domain"] == DOMAIN
            assert result["result"]["state"] == "loaded"

            sensors = energy_sensors(await inverter_entities(client, enabled_only=True))
            energy_entity_ids = [
                sensors.grid_import,
                sensors.grid_export,
                sensors.solar,
                sensors.battery_charge,
                sensors.battery_discharge,
            ]
            assert None not in energy_entity_ids, sensors
            readings = await wait_for_numbers(client, energy_entity_ids)  # type: ignore[arg-type]
            assert all(reading >= 0 for reading in readings.values()), readings

            preferences = energy_preferences(sensors, await client.version())
            assert [source["type"] for source in preferences["energy_sources"]] == [
                "grid",
                "solar",
                "battery",
            ]
            await client.websocket_command("energy/save_prefs", **preferences)
            # Compile the statistics now instead of at the next five-minute mark.
            await client.call_service("statistics_now", "compile")
            validation = await client.websocket_command("energy/validate")

        assert validation == no_issues(preferences, validation)

        # What scripts/develop does when run again: nothing left to do.
        async with asyncio.timeout(STEP_TIMEOUT):
            assert await set_up_demo(client, simulator_address) == []
            entries = await client.config_entries(DOMAIN)
        assert [entry["entry_id"] for entry in entries] == [
            result["result"]["entry_id"]
        ]
