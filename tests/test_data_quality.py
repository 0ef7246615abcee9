"""Honest numbers: glitches, night, time zones and outages, driven by the simulator."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
import itertools

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, State
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    mock_restore_cache_with_extra_data,
)

from custom_components.sunvec import polling
from custom_components.sunvec.const import DOMAIN
from sunvec_simulator import Fault, SunvecCloud

from .conftest import assert_no_traceback_logged, simulated_entry

GRID_TIED = "SVDEMOGRD1"
HYBRID = "SVDEMOHYB1"


async def run_until(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    until: datetime,
    step: timedelta = timedelta(seconds=30),
) -> None:
    """Let virtual time pass in steps, firing Home Assistant's timers."""
    while dt_util.utcnow() < until:
        freezer.tick(min(step, until - dt_util.utcnow()))
        async_fire_time_changed(hass)
        await settle(hass)


async def settle(hass: HomeAssistant) -> None:
    """Let polls in flight finish their loopback I/O.

    The coordinators poll in background tasks named after them ("sunvec <title>
    poll"). A poll waiting for a timer (a cloud that hangs until the client's
    timeout) cannot finish in frozen time; it is left to the next step instead of
    waited for forever.
    """
    await hass.async_block_till_done()
    for _ in range(2000):
        if not [
            task
            for task in asyncio.all_tasks()
            if task.get_name().startswith(f"{DOMAIN} ") and not task.done()
        ]:
            break
        await asyncio.sleep(0)
    await hass.async_block_till_done()


def at_plant(text: str) -> datetime:
    """Return an aware time from a plant-local 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(text).replace(
        tzinfo=dt_util.get_time_zone("Europe/Amsterdam")
    )


async def add_inverter(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Set up a simulated inverter's entry."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


def entity_id(
    hass: HomeAssistant, wifi_sn: str, key: str, platform: str = "sensor"
) -> str:
    """Return the entity id of an inverter's entity by its key."""
    found = er.async_get(hass).async_get_entity_id(platform, DOMAIN, f"{wifi_sn}_{key}")
    assert found is not None
    return found


def record_states(hass: HomeAssistant, entity_ids: list[str]) -> dict[str, list[State]]:
    """Collect every state the entities take from now on."""
    seen: dict[str, list[State]] = {entity: [] for entity in entity_ids}

    def collect(event: Event[EventStateChangedData]) -> None:
        if (new_state := event.data["new_state"]) is not None:
            seen[event.data["entity_id"]].append(new_state)

    async_track_state_change_event(hass, entity_ids, collect)
    return seen


def numbers(states: list[State]) -> list[float]:
    """Return the numeric states, skipping unavailable and unknown."""
    return [float(s.state) for s in states if s.state not in ("unavailable", "unknown")]


def never_falls(values: list[float]) -> bool:
    """Return whether a series never goes down."""
    return all(later >= earlier for earlier, later in itertools.pairwise(values))


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_counter_glitches_never_lower_lifetime_counters(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    cloud_url: str,
) -> None:
    """A lifetime counter reported as 0 or a bit lower keeps its last good value."""
    hass = hass_at_plant
    await add_inverter(hass, simulated_entry(cloud_url, HYBRID))
    counters = [
        entity_id(hass, HYBRID, key)
        for key in ("yield_total", "grid_export_energy", "grid_import_energy")
    ]
    seen = record_states(hass, counters)
    before = {entity: float(hass.states.get(entity).state) for entity in counters}

    cloud.set_fault(Fault.COUNTER_ZERO, wifi_sn=HYBRID, field="yieldtotal")
    cloud.set_fault(Fault.COUNTER_LOWER, wifi_sn=HYBRID, field="feedinenergy", count=3)
    cloud.set_fault(Fault.COUNTER_ZERO, wifi_sn=HYBRID, field="consumeenergy", count=2)
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(hours=1))

    glitched = [upload.record for upload in cloud.inverter(HYBRID).uploads()[-12:]]
    assert any(record["yieldtotal"] == 0 for record in glitched)
    assert any(record["consumeenergy"] == 0 for record in glitched)
    for entity in counters:
        series = [before[entity], *numbers(seen[entity])]
        series.append(float(hass.states.get(entity).state))
        assert never_falls(series), entity
        assert 0 not in series


async def test_night_shows_zero_production_and_sleep(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud_url: str,
) -> None:
    """A grid-tied inverter asleep at night: 0 W, status sleep, uploads asleep."""
    hass = hass_at_plant
    await add_inverter(hass, simulated_entry(cloud_url, GRID_TIED))
    await run_until(hass, freezer, at_plant("2026-06-21 23:30"), timedelta(minutes=1))

    assert hass.states.get(entity_id(hass, GRID_TIED, "ac_power")).state == "0"
    assert hass.states.get(entity_id(hass, GRID_TIED, "pv_power")).state == "0"
    assert (
        hass.states.get(entity_id(hass, GRID_TIED, "inverter_status")).state == "sleep"
    )
    assert (
        hass.states.get(entity_id(hass, GRID_TIED, "feed_in_power")).state
        == STATE_UNAVAILABLE
    )
    # Asleep, not "not uploading": a normal night is no fault.
    assert hass.states.get(entity_id(hass, GRID_TIED, "upload_state")).state == "asleep"
    assert float(hass.states.get(entity_id(hass, GRID_TIED, "yield_total")).state) > 0
    last_upload = hass.states.get(entity_id(hass, GRID_TIED, "last_upload")).state
    assert (
        at_plant("2026-06-21 21:00")
        < dt_util.parse_datetime(last_upload)
        < at_plant("2026-06-21 23:00")
    )


async def test_yesterdays_day_total_after_midnight_reads_zero(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    cloud_url: str,
) -> None:
    """Yield today drops to 0 at the plant's midnight and never shows yesterday's total."""
    hass = hass_at_plant
    await add_inverter(hass, simulated_entry(cloud_url, GRID_TIED))
    yield_today = entity_id(hass, GRID_TIED, "yield_today")
    await run_until(hass, freezer, at_plant("2026-06-21 23:00"), timedelta(minutes=1))
    yesterday = float(hass.states.get(yield_today).state)
    assert yesterday > 5

    cloud.set_fault(Fault.YESTERDAY_YIELD_TODAY, wifi_sn=GRID_TIED, count=3)
    seen = record_states(hass, [yield_today])
    await run_until(hass, freezer, at_plant("2026-06-22 00:10"), timedelta(minutes=1))
    assert hass.states.get(yield_today).state == "0.0"
    await run_until(hass, freezer, at_plant("2026-06-22 09:00"), timedelta(minutes=1))

    new_day = numbers(seen[yield_today])
    assert new_day[0] == 0
    assert yesterday not in new_day
    assert never_falls(new_day)
    assert 0 < new_day[-1] < yesterday
    stale_uploads = [
        upload
        for upload in cloud.inverter(GRID_TIED).uploads()
        if upload.upload_time.date().isoformat() == "2026-06-22"
        and upload.record["yieldtoday"] == yesterday
    ]
    assert stale_uploads, "the simulator should have sent yesterday's total"


async def test_future_upload_time_is_learned_and_never_shown(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    cloud_url: str,
) -> None:
    """A plant clock two hours ahead never shows an upload in the future."""
    hass = hass_at_plant
    cloud.set_fault(Fault.FUTURE_UPLOAD_TIME, wifi_sn=HYBRID, hours=2)
    await add_inverter(hass, simulated_entry(cloud_url, HYBRID))
    last_upload = entity_id(hass, HYBRID, "last_upload")
    seen = record_states(hass, [last_upload])
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(hours=1))

    shown = [dt_util.parse_datetime(state.state) for state in seen[last_upload]]
    assert all(
        time is not None and time <= state.last_updated
        for time, state in zip(shown, seen[last_upload], strict=True)
    )
    latest = dt_util.parse_datetime(hass.states.get(last_upload).state)
    assert latest == cloud.inverter(HYBRID).uploads()[-1].available_at


async def test_outage_logs_once_and_recovers_at_first_upload(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    cloud_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Six hours of 502 pages: unavailable, one line when it goes, one when it is back."""
    hass = hass_at_plant
    await add_inverter(hass, simulated_entry(cloud_url, HYBRID))
    ac_power = entity_id(hass, HYBRID, "ac_power")
    total_yield = entity_id(hass, HYBRID, "yield_total")
    before = float(hass.states.get(total_yield).state)
    caplog.clear()

    cloud.set_fault(Fault.HTTP_502)
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(hours=6))
    assert hass.states.get(ac_power).state == STATE_UNAVAILABLE
    assert hass.states.get(total_yield).state == STATE_UNAVAILABLE

    cloud.clear_faults()
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=10))
    assert hass.states.get(ac_power).state != STATE_UNAVAILABLE
    assert float(hass.states.get(total_yield).state) >= before

    lines = [
        r
        for r in caplog.records
        if r.name.startswith("custom_components.sunvec")
        and r.levelname in ("WARNING", "ERROR", "INFO")
    ]
    assert [r.levelname for r in lines] == ["ERROR", "INFO"], [
        r.getMessage() for r in lines
    ]
    assert "502" in lines[0].getMessage()
    assert "recovered" in lines[1].getMessage()
    assert_no_traceback_logged(caplog)


async def test_restart_then_glitch_makes_no_spike(
    hass_at_plant: HomeAssistant,
    cloud: SunvecCloud,
    cloud_url: str,
) -> None:
    """The last good counter survives a restart, so a glitch right after it is caught."""
    hass = hass_at_plant
    unique = f"{HYBRID}_yield_total"
    registry = er.async_get(hass)
    entry = simulated_entry(cloud_url, HYBRID)
    entry.add_to_hass(hass)
    registry.async_get_or_create(
        "sensor",
        DOMAIN,
        unique,
        config_entry=entry,
        suggested_object_id="restored_total_yield",
    )
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State("sensor.restored_total_yield", "99999.9"),
                {"native_value": 99999.9, "native_unit_of_measurement": "kWh"},
            )
        ],
    )
    cloud.set_fault(Fault.COUNTER_LOWER, wifi_sn=HYBRID, field="yieldtotal")
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get("sensor.restored_total_yield").state == "99999.9"


async def test_not_uploading_in_daylight_raises_a_repair_issue(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    cloud_url: str,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Hours without an upload in daylight raise an issue that goes away by itself."""
    hass = hass_at_plant
    await add_inverter(hass, simulated_entry(cloud_url, HYBRID))
    issue_id = f"not_uploading_{HYBRID}"
    cloud.set_fault(Fault.UPLOADS_STOPPED, wifi_sn=HYBRID)
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=90))
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    assert (
        hass.states.get(entity_id(hass, HYBRID, "ac_power")).state == STATE_UNAVAILABLE
    )
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(hours=1))
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "not_uploading"
    upload_state = entity_id(hass, HYBRID, "upload_state")
    assert hass.states.get(upload_state).state == "not_uploading"

    # Not uploading: polled every quiet interval, so the next poll sees the upload.
    cloud.clear_faults()
    await run_until(
        hass,
        freezer,
        dt_util.utcnow() + timedelta(seconds=polling.QUIET_INTERVAL + 60),
    )
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    assert (
        hass.states.get(entity_id(hass, HYBRID, "ac_power")).state != STATE_UNAVAILABLE
    )
    assert hass.states.get(upload_state).state == "uploading"
