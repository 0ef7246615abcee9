"""A simulated day with every fault the simulator can inject, end to end over loopback."""

from __future__ import annotations

from datetime import datetime, timedelta
import json
import logging

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest

from custom_components.sunvec.const import DOMAIN
from custom_components.sunvec.diagnostics import async_get_config_entry_diagnostics
from sunvec_simulator import DEMO_TOKEN, Fault, SunvecCloud

from .conftest import assert_no_traceback_logged, simulated_entry
from .test_data_quality import (
    GRID_TIED,
    HYBRID,
    add_inverter,
    entity_id,
    never_falls,
    numbers,
    record_states,
    run_until,
)

COUNTERS = ("yield_total", "grid_export_energy", "grid_import_energy")
ERROR_CODES = (1002, 1003, 1004, 2001, 2002, 3, 104, 4242)


def sunvec_lines(
    caplog: pytest.LogCaptureFixture, start: datetime, end: datetime
) -> list[logging.LogRecord]:
    """Return the integration's log lines at INFO and above between two instants."""
    return [
        record
        for record in caplog.records
        if record.name.startswith("custom_components.sunvec")
        and record.levelno >= logging.INFO
        and start.timestamp() <= record.created < end.timestamp()
    ]


async def test_a_day_of_every_fault(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    cloud_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Faults, glitches, an outage and a revoked token: honest numbers throughout."""
    hass = hass_at_plant
    caplog.set_level(logging.INFO)
    cloud.hang_seconds = 60
    entries = {sn: simulated_entry(cloud_url, sn) for sn in (HYBRID, GRID_TIED)}
    for entry in entries.values():
        await add_inverter(hass, entry)
        freezer.tick(7)  # the token's budget spaces calls 6 s apart
    counters = [entity_id(hass, sn, key) for sn in entries for key in COUNTERS]
    seen = record_states(hass, counters)
    start = dt_util.utcnow()  # 12:00 at the plant

    async def until(hours: float) -> None:
        await run_until(hass, freezer, start + timedelta(hours=hours))

    # Glitching counters, odd replies, every error code, a hang, unknown status.
    cloud.set_fault(Fault.COUNTER_ZERO, wifi_sn=HYBRID, field="yieldtotal")
    cloud.set_fault(Fault.COUNTER_ZERO, wifi_sn=HYBRID, field="consumeenergy", count=2)
    cloud.set_fault(Fault.COUNTER_LOWER, wifi_sn=GRID_TIED, field="feedinenergy")
    await until(0.5)
    for fault, count in (
        (Fault.NUMBERS_AS_STRINGS, 4),
        (Fault.NULL_VALUES, 2),
        (Fault.MALFORMED_JSON, 1),
        (Fault.HTTP_500, 1),
        (Fault.HANG, 1),
    ):
        cloud.set_fault(fault, count=count)
        await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=10))
    for code in ERROR_CODES:
        cloud.set_fault(Fault.ERROR_CODE, code=code, count=1)
        await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=10))
    cloud.set_fault(Fault.UNKNOWN_STATUS, wifi_sn=HYBRID, count=2)
    cloud.set_fault(Fault.RATE_LIMITED, count=2)
    await until(3)
    assert (
        hass.states.get(entity_id(hass, HYBRID, "ac_power")).state != STATE_UNAVAILABLE
    )

    # A plant clock two hours ahead for an hour.
    cloud.set_fault(Fault.FUTURE_UPLOAD_TIME, wifi_sn=HYBRID, hours=2)
    last_upload = entity_id(hass, HYBRID, "last_upload")
    skewed = record_states(hass, [last_upload])
    await until(4)
    cloud.clear_faults()
    # Long enough for the clock to learn the plant's zone back (four records).
    await until(4.5)
    assert all(
        dt_util.parse_datetime(state.state) <= state.last_changed
        for state in skewed[last_upload]
        if state.state != STATE_UNAVAILABLE
    )

    # Six hours without the cloud (502 pages from the proxy), in daylight.
    outage_start = dt_util.utcnow()
    cloud.set_fault(Fault.HTTP_502)
    await until(7)
    for sn in entries:
        assert (
            hass.states.get(entity_id(hass, sn, "ac_power")).state == STATE_UNAVAILABLE
        )
        assert (
            hass.states.get(entity_id(hass, sn, "yield_total")).state
            == STATE_UNAVAILABLE
        )
    await until(10.25)
    outage_end = dt_util.utcnow()
    cloud.clear_faults()
    await run_until(
        hass, freezer, outage_end + timedelta(minutes=6), timedelta(seconds=5)
    )
    assert (
        hass.states.get(entity_id(hass, HYBRID, "ac_power")).state != STATE_UNAVAILABLE
    )
    lines = sunvec_lines(caplog, outage_start, outage_end + timedelta(minutes=6))
    for entry in entries.values():
        own = [line for line in lines if entry.title in line.getMessage()]
        assert [line.levelname for line in own] == ["ERROR", "INFO"], own
        assert "recovered" in own[1].getMessage()

    # Night, then yesterday's day total after midnight.
    await until(11)  # 23:00 at the plant
    assert entries[HYBRID].runtime_data.reader.clock.offset == timedelta(0)
    assert dt_util.utcnow() - dt_util.parse_datetime(
        hass.states.get(last_upload).state
    ) < timedelta(minutes=6)
    assert (
        hass.states.get(entity_id(hass, GRID_TIED, "inverter_status")).state == "sleep"
    )
    assert hass.states.get(entity_id(hass, GRID_TIED, "ac_power")).state == "0"
    yesterday = float(hass.states.get(entity_id(hass, GRID_TIED, "yield_today")).state)
    cloud.set_fault(Fault.YESTERDAY_YIELD_TODAY, wifi_sn=GRID_TIED, count=3)
    await until(19)  # 07:00 at the plant
    assert (
        float(hass.states.get(entity_id(hass, GRID_TIED, "yield_today")).state)
        < yesterday
    )

    # A revoked token starts reauth.
    cloud.set_fault(Fault.REVOKED_TOKEN, token=DEMO_TOKEN)
    await until(20)
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert {flow["context"]["source"] for flow in flows} == {SOURCE_REAUTH}

    for counter in counters:
        assert never_falls(numbers(seen[counter])), counter
        assert 0 not in numbers(seen[counter]), counter
    assert_no_traceback_logged(caplog)
    diagnostics = await async_get_config_entry_diagnostics(hass, entries[HYBRID])
    for text in (
        caplog.text,
        json.dumps(diagnostics, default=str),
        repr(entries[HYBRID].runtime_data.client),
        repr(entries[HYBRID].runtime_data),
    ):
        assert DEMO_TOKEN not in text
