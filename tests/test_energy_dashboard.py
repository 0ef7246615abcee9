"""The energy dashboard and long-term statistics, checked by Home Assistant itself."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant import const
from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
    statistics_during_period,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from custom_components.sunvec.const import DOMAIN
from devtools.energy_dashboard import (
    EnergySensors,
    energy_preferences,
    from_and_to,
    no_issues,
    takes_battery_level,
    takes_power,
)
from devtools.sunvec_demo import energy_sensors
from sunvec_simulator import Fault, SunvecCloud

from .conftest import simulated_entry
from .test_data_quality import GRID_TIED, HYBRID, add_inverter, entity_id, run_until


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """Start the recorder before Home Assistant, then allow custom integrations."""


async def compile_statistics(
    hass: HomeAssistant, start: datetime, duration: timedelta
) -> None:
    """Compile the short-term and hourly statistics, period by period."""
    await async_wait_recording_done(hass)
    period = start
    while period < start + duration:
        do_adhoc_statistics(hass, start=period)
        await async_wait_recording_done(hass)
        period += timedelta(minutes=5)


def _whole_dashboard(
    hass: HomeAssistant, wifi_sn: str, grid_power: str
) -> EnergySensors:
    """The dashboard a user sets up from the guide: every field the inverter fills."""
    entities = {
        entry.unique_id.removeprefix(f"{wifi_sn}_"): entry.entity_id
        for entry in er.async_entries_for_config_entry(
            er.async_get(hass), hass.config_entries.async_entries(DOMAIN)[0].entry_id
        )
        if entry.disabled_by is None
    }
    sensors = energy_sensors(entities)
    if grid_power == "pair":
        sensors = replace(
            sensors,
            grid_power=from_and_to(
                entities["grid_import_power"], entities["grid_export_power"]
            ),
        )
    return sensors


@pytest.mark.parametrize(
    ("wifi_sn", "grid_power"),
    [(HYBRID, "inverted"), (HYBRID, "pair"), (GRID_TIED, "inverted")],
)
async def test_the_whole_dashboard_reports_no_issue(
    recorder_mock: Recorder,
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud_url: str,
    hass_ws_client: WebSocketGenerator,
    wifi_sn: str,
    grid_power: str,
) -> None:
    """Energy, power flow and battery level from the integration pass energy/validate.

    In the format of the Home Assistant under test: the power sensors from 2025.12,
    the battery's level from 2026.6; the pinned minimum takes the energy alone.
    """
    hass = hass_at_plant
    assert await async_setup_component(hass, "energy", {})
    await add_inverter(hass, simulated_entry(cloud_url, wifi_sn))
    sensors = _whole_dashboard(hass, wifi_sn, grid_power)
    assert (sensors.battery_charge is not None) == (wifi_sn == HYBRID)
    preferences = energy_preferences(sensors, const.__version__)
    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "energy/save_prefs", **preferences})
    assert (await client.receive_json())["success"]
    # Statistics of every sensor, also those Home Assistant makes for an inverted
    # or paired power sensor.
    start = dt_util.utcnow()
    await run_until(hass, freezer, start + timedelta(minutes=20))
    await compile_statistics(hass, start, timedelta(minutes=15))

    # A new connection: the first one did not live through the time that passed.
    client = await hass_ws_client(hass)
    await client.send_json_auto_id({"type": "energy/get_prefs"})
    saved = (await client.receive_json())["result"]["energy_sources"]
    kinds = [source["type"] for source in saved]
    assert kinds == ["grid", "solar", "battery"][: len(kinds)]
    if takes_power(const.__version__):
        assert all("stat_rate" in source for source in saved)
    if takes_battery_level(const.__version__) and wifi_sn == HYBRID:
        assert saved[2]["stat_soc"] == sensors.battery_level
    await client.send_json_auto_id({"type": "energy/validate"})
    reply = await client.receive_json()
    assert reply["success"]
    assert reply["result"] == no_issues(preferences, reply["result"])


async def test_statistics_count_a_glitchy_day_once(
    recorder_mock: Recorder,
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    cloud_url: str,
) -> None:
    """Glitches and an outage add no energy to the long-term statistics."""
    hass = hass_at_plant
    await add_inverter(hass, simulated_entry(cloud_url, HYBRID))
    total_yield = entity_id(hass, HYBRID, "yield_total")
    start = dt_util.utcnow()
    first = float(hass.states.get(total_yield).state)

    await run_until(hass, freezer, start + timedelta(hours=1))
    cloud.set_fault(Fault.COUNTER_ZERO, wifi_sn=HYBRID, field="yieldtotal")
    await run_until(hass, freezer, start + timedelta(hours=2))
    cloud.set_fault(Fault.COUNTER_LOWER, wifi_sn=HYBRID, field="yieldtotal", count=2)
    await run_until(hass, freezer, start + timedelta(hours=3))
    cloud.set_fault(Fault.HTTP_502, count=8)
    await run_until(hass, freezer, start + timedelta(hours=4, minutes=5))
    last = float(hass.states.get(total_yield).state)
    await async_wait_recording_done(hass)

    await compile_statistics(hass, start, timedelta(hours=4))
    stats = statistics_during_period(
        hass,
        start,
        start + timedelta(hours=4),
        {total_yield},
        "hour",
        None,
        {"sum", "state"},
    )[total_yield]
    assert len(stats) == 4
    sums = [row["sum"] for row in stats]
    assert sums == sorted(sums)
    assert sums[-1] == pytest.approx(stats[-1]["state"] - first)
    assert 0 < sums[-1] <= last - first
    glitches = [
        upload.record["yieldtotal"]
        for upload in cloud.inverter(HYBRID).uploads()
        if upload.available_at > start and upload.record["yieldtotal"] < first
    ]
    assert len(glitches) == 3
    assert 0 in glitches
