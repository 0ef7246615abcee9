"""Times that cannot be true never become state; the common shapes of a time work.

Issue 13, "Time values that poison state": an ``uploadTime`` in 2099, a restored day
or integrator sample in 2099, ``uploadTime`` with ``T``, milliseconds or slashes, and
a ``utcDateTime`` hours off while fresh records keep coming.
"""

from __future__ import annotations

from datetime import timedelta
import json
import logging

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest

from custom_components.sunvec.const import DOMAIN
from sunvec_simulator import DEMO_TOKEN, Fault, SunvecCloud

from .conftest import simulated_entry
from .field_cloud import (
    assert_no_traceback,
    our_lines,
    restore_memories,
    run_until,
    served_latest,
)
from .test_data_quality import (
    GRID_TIED,
    HYBRID,
    add_inverter,
    at_plant,
    entity_id,
    never_falls,
    numbers,
    record_states,
)


async def test_one_upload_in_2099_does_not_freeze_yield_today(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    cloud_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One record dated 2099: undated, one warning; yield today goes on rising."""
    hass = hass_at_plant
    await add_inverter(hass, simulated_entry(cloud_url, HYBRID))
    yield_today = entity_id(hass, HYBRID, "yield_today")
    last_upload = entity_id(hass, HYBRID, "last_upload")
    seen = record_states(hass, [yield_today, last_upload])
    caplog.clear()

    cloud.set_fault(
        Fault.UPLOAD_TIME_FORMAT, style="garbage", text="2099-06-21 12:05:00"
    )
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=6))
    assert served_latest(cloud, HYBRID, "uploadTime") == "2099-06-21 12:05:00"
    cloud.clear_faults()
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(hours=1))

    assert float(hass.states.get(yield_today).state) == served_latest(
        cloud, HYBRID, "yieldtoday"
    )
    shown = numbers(seen[yield_today])
    assert never_falls(shown)
    assert len(set(shown)) >= 5  # it rose with the uploads of the hour
    assert all(
        state.state in (STATE_UNKNOWN, STATE_UNAVAILABLE)
        or dt_util.parse_datetime(state.state).year == 2026
        for state in seen[last_upload]
    )
    warnings = our_lines(caplog, logging.WARNING)
    assert len(warnings) == 1, [w.getMessage() for w in warnings]
    assert "2099" in warnings[0].getMessage()
    assert_no_traceback(caplog)


async def test_a_record_of_tomorrow_is_not_yield_today(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    cloud_url: str,
) -> None:
    """At 22:00 one record claims tomorrow 08:00: today's total stays until midnight."""
    hass = hass_at_plant
    freezer.move_to(at_plant("2026-06-21 21:30"))
    await add_inverter(hass, simulated_entry(cloud_url, HYBRID))
    yield_today = entity_id(hass, HYBRID, "yield_today")
    await run_until(hass, freezer, at_plant("2026-06-21 22:00"))
    today = float(hass.states.get(yield_today).state)
    assert today > 5
    seen = record_states(hass, [yield_today])

    cloud.set_fault(Fault.FUTURE_UPLOAD_TIME, wifi_sn=HYBRID, hours=10)
    await run_until(hass, freezer, at_plant("2026-06-21 22:06"))
    assert served_latest(cloud, HYBRID, "uploadTime").startswith("2026-06-22 08:0")
    cloud.clear_faults()
    await run_until(hass, freezer, at_plant("2026-06-21 23:55"))
    # Today's total goes on (the battery discharges after sunset), never frozen.
    assert never_falls(numbers(seen[yield_today]))
    assert float(hass.states.get(yield_today).state) == served_latest(
        cloud, HYBRID, "yieldtoday"
    )
    # Midnight still resets it, and the new day's values show.
    await run_until(hass, freezer, at_plant("2026-06-22 09:00"), timedelta(minutes=1))
    assert float(hass.states.get(yield_today).state) == served_latest(
        cloud, HYBRID, "yieldtoday"
    )
    assert float(hass.states.get(yield_today).state) < today
    assert never_falls(numbers(seen[yield_today])[-20:])


async def test_restored_times_in_2099_are_dropped(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    cloud_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A stored day and integrator sample in 2099: one line each, the values go on."""
    hass = hass_at_plant
    entry = simulated_entry(cloud_url, HYBRID)
    entry.add_to_hass(hass)
    total_yield = cloud.inverter(HYBRID).uploads()[-1].record["yieldtotal"]
    ids = restore_memories(
        hass,
        entry,
        {
            "yield_today": {"day": "2099-01-01", "day_max": 3.0, "yesterday_final": 0},
            "pv_energy": {
                "total_kwh": 123.4,
                "last_time": "2099-01-01T00:00:00+00:00",
                "last_power_w": 800.0,
            },
            "yield_total": {
                "last_good": total_yield - 1,
                "last_time": "2099-01-01T00:00:00+00:00",
            },
        },
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    seen = record_states(hass, list(ids.values()))
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(hours=1))

    # Yield today follows the cloud's day, not a day in 2099.
    assert float(hass.states.get(ids["yield_today"]).state) == served_latest(
        cloud, HYBRID, "yieldtoday"
    )
    # PV energy goes on from the stored total, integrating this hour.
    pv_energy = numbers(seen[ids["pv_energy"]])
    assert never_falls(pv_energy)
    assert pv_energy[-1] > 123.4 + 1.0
    assert float(hass.states.get(ids["yield_total"]).state) == served_latest(
        cloud, HYBRID, "yieldtotal"
    )
    dropped = [
        r.getMessage()
        for r in our_lines(caplog, logging.WARNING)
        if "ignoring what was stored" in r.getMessage()
    ]
    assert len(dropped) == 3, dropped
    assert {line.split(":")[0] for line in dropped} == set(ids.values())
    assert_no_traceback(caplog)


SHAPES = ["t_separator", "milliseconds", "slashes", "no_seconds", "utc_offset"]


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("style", SHAPES)
async def test_upload_time_in_other_common_shapes(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    cloud_url: str,
    caplog: pytest.LogCaptureFixture,
    style: str,
) -> None:
    """Another shape of uploadTime: the day total, the energies and staleness work."""
    hass = hass_at_plant
    cloud.set_fault(Fault.UPLOAD_TIME_FORMAT, wifi_sn=HYBRID, style=style)
    await add_inverter(hass, simulated_entry(cloud_url, HYBRID))
    pv_energy = entity_id(hass, HYBRID, "pv_energy")
    last_upload = entity_id(hass, HYBRID, "last_upload")
    upload_state = entity_id(hass, HYBRID, "upload_state")
    start = dt_util.utcnow()
    before = float(hass.states.get(pv_energy).state)
    caplog.clear()
    await run_until(hass, freezer, start + timedelta(hours=1))

    latest = cloud.inverter(HYBRID).uploads()[-1]
    assert latest.record["uploadTime"] != latest.upload_time.strftime(
        "%Y-%m-%d %H:%M:%S"
    )
    shown = dt_util.parse_datetime(hass.states.get(last_upload).state)
    assert abs(shown - latest.available_at) < timedelta(minutes=1)
    assert hass.states.get(upload_state).state == "uploading"
    truth = cloud.inverter(HYBRID).energy_truth(start, dt_util.utcnow())["pv"]
    gained = float(hass.states.get(pv_energy).state) - before
    assert truth * 0.85 < gained < truth * 1.1, (gained, truth)
    assert (
        float(hass.states.get(entity_id(hass, HYBRID, "yield_today")).state)
        == (latest.record["yieldtoday"])
    )
    assert not our_lines(caplog, logging.WARNING)

    # Staleness works: no upload for 20 minutes, and live values go.
    cloud.set_fault(Fault.UPLOADS_STOPPED, wifi_sn=HYBRID)
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=20))
    assert hass.states.get(upload_state).state == "not_uploading"
    assert hass.states.get(entity_id(hass, HYBRID, "ac_power")).state == (
        STATE_UNAVAILABLE
    )


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_an_unknown_shape_is_logged_once_and_undated(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    cloud_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An uploadTime nobody can read: one warning, no upload time, polling goes on."""
    hass = hass_at_plant
    await add_inverter(hass, simulated_entry(cloud_url, HYBRID))
    caplog.clear()
    cloud.set_fault(
        Fault.UPLOAD_TIME_FORMAT, wifi_sn=HYBRID, style="garbage", text="20.06.2026"
    )
    start = dt_util.utcnow()
    await run_until(hass, freezer, start + timedelta(hours=1))

    warnings = our_lines(caplog, logging.WARNING)
    assert len(warnings) == 1, [w.getMessage() for w in warnings]
    assert "20.06.2026" in warnings[0].getMessage()
    assert hass.states.get(entity_id(hass, HYBRID, "last_upload")).state == (
        STATE_UNKNOWN
    )
    assert hass.states.get(entity_id(hass, HYBRID, "ac_power")).state == str(
        float(served_latest(cloud, HYBRID, "acpower"))
    )
    assert sum(cloud.requests_served.values()) >= 10
    assert_no_traceback(caplog)


@pytest.mark.parametrize("hours", [8, -8])
async def test_utc_date_time_hours_off_with_fresh_records(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    cloud_url: str,
    issue_registry: ir.IssueRegistry,
    caplog: pytest.LogCaptureFixture,
    hours: int,
) -> None:
    """utcDateTime 8 hours off while records keep coming: no unavailability, no issue."""
    hass = hass_at_plant
    cloud.utc_date_time = True
    cloud.set_fault(Fault.UTC_TIME_OFF, hours=hours)
    await add_inverter(hass, simulated_entry(cloud_url, GRID_TIED))
    ac_power = entity_id(hass, GRID_TIED, "ac_power")
    upload_state = entity_id(hass, GRID_TIED, "upload_state")
    last_upload = entity_id(hass, GRID_TIED, "last_upload")
    seen = record_states(hass, [ac_power, upload_state, last_upload])
    assert hass.states.get(upload_state).state == "uploading"
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(hours=2, minutes=30))

    served = json.loads((await cloud.realtime_info(DEMO_TOKEN, GRID_TIED)).body)
    off = dt_util.parse_datetime(served["result"]["utcDateTime"])
    assert off - cloud.inverter(GRID_TIED).uploads()[-1].available_at == timedelta(
        hours=hours
    )
    assert all(state.state != STATE_UNAVAILABLE for state in seen[ac_power])
    assert {state.state for state in seen[upload_state]} <= {"uploading"}
    assert hass.states.get(upload_state).state == "uploading"
    assert len(seen[last_upload]) >= 25  # a fresh record every five minutes
    assert all(
        abs(dt_util.parse_datetime(state.state) - state.last_changed)
        < timedelta(minutes=1)
        for state in seen[last_upload]
    )
    assert not [
        issue for issue in issue_registry.issues.values() if issue.domain == DOMAIN
    ]
    assert len(our_lines(caplog, logging.WARNING)) <= 1
    assert_no_traceback(caplog)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_a_record_dated_ahead_and_repeated_is_one_upload_that_ages(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    cloud_url: str,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The plant's clock 3 h ahead (not learnt yet), then the uploads stop.

    The record the cloud keeps returning is one upload, dated when it was first
    seen: its live values go stale, it is not integrated again at every poll, and
    its lower total (a glitch) is not polled into a new baseline.
    """
    hass = hass_at_plant
    cloud.set_fault(Fault.FUTURE_UPLOAD_TIME, wifi_sn=HYBRID, hours=3)
    await add_inverter(hass, simulated_entry(cloud_url, HYBRID))
    total = entity_id(hass, HYBRID, "yield_total")
    pv_energy = entity_id(hass, HYBRID, "pv_energy")
    seen = record_states(hass, [total])
    cloud.set_fault(
        Fault.COUNTER_LOWER, wifi_sn=HYBRID, field="yieldtotal", amount=50.0, count=50
    )
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=6))
    cloud.set_fault(Fault.UPLOADS_STOPPED, wifi_sn=HYBRID)
    stopped = dt_util.utcnow()
    energy_at_stop = float(hass.states.get(pv_energy).state)
    await run_until(hass, freezer, stopped + timedelta(hours=2, minutes=10))

    last = cloud.inverter(HYBRID).uploads()[-1]
    assert last.available_at < stopped
    assert hass.states.get(entity_id(hass, HYBRID, "upload_state")).state == (
        "not_uploading"
    )
    assert hass.states.get(entity_id(hass, HYBRID, "ac_power")).state == (
        STATE_UNAVAILABLE
    )
    assert issue_registry.async_get_issue(DOMAIN, f"not_uploading_{HYBRID}")
    # Nothing new was uploaded: at most the interval up to the last record.
    assert float(hass.states.get(pv_energy).state) - energy_at_stop < 0.5
    assert never_falls(numbers(seen[total])), numbers(seen[total])
