"""Polling never dies, and absurd samples never reach the energy counters.

Issue 13, "Polling can die" and "Absurd samples reach the energy counters": the
simulated cloud, over loopback, sends what the field has sent; the tests look at
what a user sees (states, the log) and at the calls the cloud gets.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
import logging
import math
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest

from custom_components.sunvec.const import DOMAIN
from custom_components.sunvec.sensor import SunvecSensorEntity
from sunvec_simulator import Fault, SunvecCloud

from .conftest import simulated_entry
from .field_cloud import (
    FieldCloud,
    assert_no_traceback,
    our_lines,
    restore_memories,
    run_until,
    served_latest,
)
from .test_data_quality import (
    HYBRID,
    add_inverter,
    entity_id,
    never_falls,
    numbers,
    record_states,
)


def all_sunvec_states(hass: HomeAssistant) -> list[str]:
    """Return the state of every entity of the integration."""
    return [
        state.state
        for state in hass.states.async_all()
        if state.entity_id.split(".")[1].startswith(DOMAIN)
    ]


def assert_finite_states(hass: HomeAssistant) -> None:
    """No state of the integration is inf or NaN."""
    for state in all_sunvec_states(hass):
        try:
            number = float(state)
        except ValueError:
            continue
        assert math.isfinite(number), state


def set_result(**fields: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Return a rewrite that puts these values into every success reply."""
    return lambda result: result | fields


def four_hundred_digits(field_cloud: FieldCloud) -> None:
    field_cloud.cloud.set_fault(
        Fault.ABSURD_VALUE, field="acpower", value=int("9" * 400), count=4
    )


def deeply_nested(field_cloud: FieldCloud) -> None:
    field_cloud.cloud.set_fault(Fault.NESTED_JSON, depth=100_000, count=4)


def upload_in_9999(field_cloud: FieldCloud) -> None:
    field_cloud.cloud.set_fault(
        Fault.UPLOAD_TIME_FORMAT, style="garbage", text="9999-12-31 23:59:59"
    )


def upload_late_in_9999(field_cloud: FieldCloud) -> None:
    # Within a day of the end of datetime's range, but readable.
    field_cloud.cloud.set_fault(
        Fault.UPLOAD_TIME_FORMAT, style="garbage", text="9999-12-30 20:00:00"
    )


def utc_in_year_1(field_cloud: FieldCloud) -> None:
    field_cloud.rewrite = set_result(utcDateTime="0001-01-01T00:00:00Z")


def utc_early_in_year_1(field_cloud: FieldCloud) -> None:
    field_cloud.rewrite = set_result(utcDateTime="0001-01-02 03:00:00")


def not_numbers(field_cloud: FieldCloud) -> None:
    field_cloud.rewrite = set_result(
        acpower="NaN", powerdc1="Infinity", yieldtotal="-inf", soc=[1, 2], batPower={}
    )


@pytest.mark.parametrize(
    ("inject", "readable"),
    [
        (four_hundred_digits, True),
        (deeply_nested, False),
        (upload_in_9999, True),
        (upload_late_in_9999, True),
        (utc_in_year_1, True),
        (utc_early_in_year_1, True),
        (not_numbers, True),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
async def test_polling_goes_on_whatever_the_reply(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    field_cloud: FieldCloud,
    caplog: pytest.LogCaptureFixture,
    inject: Callable[[FieldCloud], None],
    readable: bool,
) -> None:
    """A reply that once stopped polling for good: polls go on, no traceback.

    A record with a value that cannot be used is a record with that value missing:
    the update succeeds (the entities stay available, nothing is logged as an
    error). A reply that cannot be read at all is one failed update, logged once.
    Home Assistant is in US/Pacific (west of UTC), the plant in Amsterdam.
    """
    assert hass.config.time_zone == "US/Pacific"
    await add_inverter(hass, simulated_entry(field_cloud.url, HYBRID))
    ac_power = entity_id(hass, HYBRID, "ac_power")
    last_upload = entity_id(hass, HYBRID, "last_upload")
    # Long enough to learn that the plant's clock runs 9 hours ahead (four records).
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=25))
    inverter_status = entity_id(hass, HYBRID, "inverter_status")
    caplog.clear()
    start = dt_util.utcnow()
    seen = record_states(hass, [inverter_status])

    inject(field_cloud)
    await run_until(hass, freezer, start + timedelta(minutes=40))
    during = field_cloud.calls_between(start, dt_util.utcnow())
    # Polled on: about one call per upload (every 5 min), or the back-off's.
    assert len(during) >= 6, during
    assert_finite_states(hass)
    errors = [line.getMessage() for line in our_lines(caplog, logging.ERROR)]
    if readable:
        assert errors == []
        assert STATE_UNAVAILABLE not in [s.state for s in seen[inverter_status]]
    else:
        assert len(errors) == 1, errors

    field_cloud.cloud.clear_faults()
    field_cloud.rewrite = None
    healthy = dt_util.utcnow()
    await run_until(hass, freezer, healthy + timedelta(minutes=15))
    assert field_cloud.calls_between(healthy, dt_util.utcnow())
    assert hass.states.get(ac_power).state not in (STATE_UNAVAILABLE, STATE_UNKNOWN)
    latest = field_cloud.cloud.inverter(HYBRID).uploads()[-1]
    assert dt_util.parse_datetime(hass.states.get(last_upload).state) == (
        latest.available_at
    )
    assert_no_traceback(caplog)
    assert_finite_states(hass)
    # Logged once, not once per poll.
    assert len(our_lines(caplog, logging.WARNING)) <= 1, [
        r.getMessage() for r in our_lines(caplog, logging.WARNING)
    ]


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_a_lifetime_counter_of_1e7_kwh_is_not_accepted(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    cloud_url: str,
) -> None:
    """1e7 kWh for one upload: never shown, and no meter reset an hour later."""
    hass = hass_at_plant
    await add_inverter(hass, simulated_entry(cloud_url, HYBRID))
    total = entity_id(hass, HYBRID, "yield_total")
    seen = record_states(hass, [total])
    before = float(hass.states.get(total).state)

    cloud.set_fault(Fault.ABSURD_VALUE, field="yieldtotal", value=1e7, count=1)
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(hours=1, minutes=10))

    served = [u.record["yieldtotal"] for u in cloud.inverter(HYBRID).uploads()[-16:]]
    assert 1e7 in served
    shown = [before, *numbers(seen[total])]
    assert max(shown) < 1e6
    assert never_falls(shown)
    assert float(hass.states.get(total).state) == served[-1]


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("absurd", [1e7, 1e308, int("9" * 400)])
async def test_an_absurd_pv_sample_adds_nothing_to_pv_energy(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    cloud_url: str,
    caplog: pytest.LogCaptureFixture,
    absurd: float,
) -> None:
    """A PV sample no inverter can produce: not shown, not integrated, no inf state.

    Every entity goes on updating after it (at 1e308 one entity used to raise on
    every update, and the entities after it stopped updating).
    """
    hass = hass_at_plant
    await add_inverter(hass, simulated_entry(cloud_url, HYBRID))
    pv_energy = entity_id(hass, HYBRID, "pv_energy")
    pv_power = entity_id(hass, HYBRID, "pv1_power")
    watched = [
        entity_id(hass, HYBRID, key)
        for key in (
            "pv_energy",
            "pv_power",
            "pv1_power",
            "last_upload",
            "ac_power",
            "battery_charge_energy",
            "battery_discharge_energy",
            "inverter_type",
        )
    ]
    seen = record_states(hass, watched)
    start = dt_util.utcnow()
    energy_before = float(hass.states.get(pv_energy).state)
    caplog.clear()

    cloud.set_fault(Fault.ABSURD_VALUE, field="powerdc1", value=absurd, count=1)
    await run_until(hass, freezer, start + timedelta(hours=1))

    inverter = cloud.inverter(HYBRID)
    assert any(u.record["powerdc1"] == absurd for u in inverter.uploads()[-14:])
    assert all(state.state != str(absurd) for state in seen[pv_power])
    gained = float(hass.states.get(pv_energy).state) - energy_before
    truth = inverter.energy_truth(start, dt_util.utcnow())["pv"]
    # The trapezoids of the other uploads, without the skipped sample's two.
    assert truth * 0.7 < gained <= truth * 1.05, (gained, truth)
    for entity in watched:
        assert all(
            state.state not in ("inf", "-inf", "nan") for state in seen[entity]
        ), entity
    # Every entity went on updating after the absurd sample (about 12 uploads).
    for key in ("last_upload", "ac_power", "pv_energy"):
        updates = [
            s for s in seen[entity_id(hass, HYBRID, key)] if s.last_updated > start
        ]
        assert len(updates) >= 10, key
    assert_no_traceback(caplog)
    if absurd == 1e7:  # 1e308 and 400 digits are not numbers at all
        warnings = our_lines(caplog, logging.WARNING)
        assert len(warnings) == 1, [w.getMessage() for w in warnings]
        assert "pv_power" in warnings[0].getMessage()


async def test_a_restored_pv_sample_of_1e308_w_adds_nothing(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    cloud_url: str,
) -> None:
    """A stored last sample of 1e308 W (stored before samples were checked): skipped.

    PV energy goes on from the stored total; it used to become infinite, shown as
    unknown for good.
    """
    hass = hass_at_plant
    entry = simulated_entry(cloud_url, HYBRID)
    entry.add_to_hass(hass)
    last = cloud.inverter(HYBRID).uploads()[-1]
    ids = restore_memories(
        hass,
        entry,
        {
            "pv_energy": {
                "total_kwh": 100.0,
                "last_time": last.available_at.isoformat(),
                "last_power_w": 1e308,
            }
        },
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    start = dt_util.utcnow()
    seen = record_states(hass, [ids["pv_energy"]])
    await run_until(hass, freezer, start + timedelta(hours=1))

    shown = [state.state for state in seen[ids["pv_energy"]]]
    assert STATE_UNKNOWN not in shown
    assert never_falls(numbers(seen[ids["pv_energy"]]))
    gained = float(hass.states.get(ids["pv_energy"]).state) - 100.0
    truth = cloud.inverter(HYBRID).energy_truth(start, dt_util.utcnow())["pv"]
    assert truth * 0.7 < gained <= truth * 1.05, (gained, truth)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_an_undated_record_polled_again_counts_once(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    cloud_url: str,
) -> None:
    """Undated records, then one with a lower total that the cloud keeps returning.

    The inverter stops uploading after the glitch; the same record, polled again
    for two hours, is one upload, not the six over an hour that make a new baseline.
    """
    hass = hass_at_plant
    cloud.set_fault(
        Fault.UPLOAD_TIME_FORMAT, wifi_sn=HYBRID, style="garbage", text="garbage"
    )
    await add_inverter(hass, simulated_entry(cloud_url, HYBRID))
    total = entity_id(hass, HYBRID, "yield_total")
    seen = record_states(hass, [total])
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=20))
    cloud.set_fault(
        Fault.COUNTER_LOWER, wifi_sn=HYBRID, field="yieldtotal", amount=50.0, count=50
    )
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=6))
    cloud.set_fault(Fault.UPLOADS_STOPPED, wifi_sn=HYBRID)
    polls = sum(cloud.requests_served.values())
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(hours=2))

    assert sum(cloud.requests_served.values()) - polls >= 6
    glitched = cloud.inverter(HYBRID).uploads()[-1].record["yieldtotal"]
    shown = numbers(seen[total])
    assert glitched < max(shown) - 40
    assert never_falls(shown), shown


async def test_an_entity_that_cannot_show_its_value_stops_no_other(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    cloud_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One sensor fails on every update: it alone is unavailable, with one warning.

    No reply makes a sensor fail any more (1e308 once did), so one is made to: the
    inverter type raises whenever it takes the data, from the second reply on.
    """
    hass = hass_at_plant
    await add_inverter(hass, simulated_entry(cloud_url, HYBRID))
    inverter_type = entity_id(hass, HYBRID, "inverter_type")
    others = [entity_id(hass, HYBRID, key) for key in ("ac_power", "last_upload")]
    seen = record_states(hass, [inverter_type, *others])
    take = SunvecSensorEntity._update_from_data

    def fails_for_the_type(entity: SunvecSensorEntity) -> None:
        if entity.entity_description.key == "inverter_type":
            raise ValueError("a value Home Assistant refuses")
        take(entity)

    caplog.clear()
    start = dt_util.utcnow()
    with patch.object(SunvecSensorEntity, "_update_from_data", fails_for_the_type):
        await run_until(hass, freezer, start + timedelta(minutes=30))
        assert hass.states.get(inverter_type).state == STATE_UNAVAILABLE
        for other in others:
            assert len(seen[other]) >= 5, other
            assert hass.states.get(other).state != STATE_UNAVAILABLE
        warnings = our_lines(caplog, logging.WARNING)
        assert len(warnings) == 1, [w.getMessage() for w in warnings]
        assert inverter_type in warnings[0].getMessage()
    # Once it can show the data again, it does.
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=10))
    assert hass.states.get(inverter_type).state == str(
        served_latest(cloud, HYBRID, "inverterType")
    )
    assert_no_traceback(caplog)
