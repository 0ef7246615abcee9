"""The simulated plants: record shape, counters, energy, sleep, upload cadence."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
import itertools
import re
import time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sunvec_simulator import (
    InverterKind,
    SimulatedInverter,
    SunvecCloud,
    Upload,
    VirtualClock,
)

from .conftest import GRID_SN, HYBRID_SN, START, THREE_PHASE_SN, TOKEN

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
DAY = timedelta(days=1)

# The vendor document's example reply, as printed there.
VENDOR_EXAMPLE: dict[str, Any] = {
    "inverterSN": "H34******6008",
    "sn": "SR******RM",
    "acpower": 152,
    "yieldtoday": 0.2,
    "yieldtotal": 2420.5,
    "feedinpower": 0,
    "feedinenergy": 0,
    "consumeenergy": 0,
    "feedinpowerM2": None,
    "soc": None,
    "peps1": None,
    "peps2": None,
    "peps3": None,
    "inverterType": "4",
    "inverterStatus": "102",
    "uploadTime": "2024-08-20 09:21:43",
    "batPower": None,
    "powerdc1": 162,
    "powerdc2": 0,
    "powerdc3": None,
    "powerdc4": None,
    "batStatus": None,
}
NUMBER = (int, float)
STRING_FIELDS = {"inverterSN", "sn", "inverterType", "inverterStatus", "uploadTime"}
# Fields each model has (a number or, for batStatus, a string); every other field is null.
PRESENT = {
    InverterKind.GRID_TIED: {"powerdc1", "powerdc2"},
    InverterKind.HYBRID: {
        "powerdc1",
        "powerdc2",
        "soc",
        "batPower",
        "batStatus",
        "peps1",
    },
    InverterKind.THREE_PHASE: {
        "powerdc1",
        "powerdc2",
        "powerdc3",
        "powerdc4",
        "feedinpowerM2",
    },
}
ALWAYS = {
    "acpower",
    "yieldtoday",
    "yieldtotal",
    "feedinpower",
    "feedinenergy",
    "consumeenergy",
}


def local_day(upload: Upload) -> date:
    return upload.upload_time.date()


def by_local_day(uploads: list[Upload]) -> dict[date, list[Upload]]:
    days: dict[date, list[Upload]] = defaultdict(list)
    for upload in uploads:
        days[local_day(upload)].append(upload)
    return days


def trapezoid_kwh(uploads: list[Upload], power: Any) -> float:
    total = 0.0
    for before, after in itertools.pairwise(uploads):
        seconds = (after.available_at - before.available_at).total_seconds()
        total += (power(before.record) + power(after.record)) / 2.0 * seconds
    return total / 3_600_000.0


def pv_power(record: dict[str, Any]) -> float:
    return sum(record[f"powerdc{string}"] or 0 for string in range(1, 5))


@pytest.mark.parametrize("wifi_sn", [GRID_SN, HYBRID_SN, THREE_PHASE_SN])
def test_record_shape_matches_the_vendor_example(
    cloud: SunvecCloud, clock: VirtualClock, wifi_sn: str
) -> None:
    inverter = cloud.inverter(wifi_sn)
    clock.advance(36 * 3600)  # through a night and a day
    uploads = inverter.uploads()
    assert uploads
    for upload in uploads:
        record = upload.record
        assert list(record) == list(VENDOR_EXAMPLE)
        assert record["sn"] == wifi_sn
        assert record["inverterSN"] == inverter.inverter_sn
        for key in STRING_FIELDS:
            assert isinstance(record[key], str)
        for key in ALWAYS:
            assert isinstance(record[key], NUMBER) and not isinstance(record[key], bool)
        for key in ("acpower", "feedinpower"):
            assert isinstance(record[key], int)
        for key, value in record.items():
            if key in STRING_FIELDS or key in ALWAYS:
                continue
            if key in PRESENT[inverter.kind]:
                expected = str if key == "batStatus" else int
                assert isinstance(value, expected), (key, value)
            else:
                assert value is None, key
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", record["uploadTime"])
        assert record["uploadTime"] == upload.upload_time.strftime("%Y-%m-%d %H:%M:%S")
        assert upload.upload_time.tzinfo is None
        assert upload.available_at.tzinfo is UTC
        assert upload.upload_time == upload.available_at.astimezone(AMSTERDAM).replace(
            tzinfo=None
        )
    if inverter.kind is InverterKind.HYBRID:
        assert {upload.record["batStatus"] for upload in uploads} == {"0"}
    # Rounding: yield to 0.1 kWh, grid energies to 0.01 kWh.
    for upload in uploads:
        record = upload.record
        assert round(record["yieldtotal"], 1) == record["yieldtotal"]
        assert round(record["yieldtoday"], 1) == record["yieldtoday"]
        assert round(record["feedinenergy"], 2) == record["feedinenergy"]
        assert round(record["consumeenergy"], 2) == record["consumeenergy"]


def test_inverter_attributes(cloud: SunvecCloud) -> None:
    hybrid = cloud.inverter(HYBRID_SN)
    assert hybrid.wifi_sn == HYBRID_SN
    assert hybrid.token == TOKEN
    assert hybrid.kind is InverterKind.HYBRID
    assert hybrid.timezone == AMSTERDAM
    assert len(hybrid.inverter_sn) == 13
    other = SunvecCloud(clock=VirtualClock(START)).add_inverter(
        "t", "X1", kind=InverterKind.GRID_TIED, inverter_sn="H34XXXXXX6008"
    )
    assert other.inverter_sn == "H34XXXXXX6008"
    with pytest.raises(KeyError):
        cloud.inverter("nope")
    with pytest.raises(ValueError, match="already exists"):
        cloud.add_inverter(TOKEN, HYBRID_SN, kind=InverterKind.HYBRID)


@pytest.mark.parametrize("wifi_sn", [GRID_SN, HYBRID_SN, THREE_PHASE_SN])
def test_counters_are_consistent_over_a_day(
    cloud: SunvecCloud, clock: VirtualClock, wifi_sn: str
) -> None:
    inverter = cloud.inverter(wifi_sn)
    clock.advance(2 * 86400)
    uploads = inverter.uploads()
    days = by_local_day(uploads)
    day = date(2024, 6, 20)
    today = days[day]
    first, last = today[0].record, today[-1].record

    # yieldtotal grows by what yieldtoday grows, within rounding.
    grown = last["yieldtotal"] - first["yieldtotal"]
    assert grown == pytest.approx(last["yieldtoday"] - first["yieldtoday"], abs=0.2)
    assert last["yieldtoday"] > 10

    # yieldtoday resets at the plant's local midnight.
    assert days[day + DAY][0].record["yieldtoday"] < 0.1
    assert days[day - DAY][-1].record["yieldtoday"] > 10

    for before, after in itertools.pairwise(uploads):
        for counter in ("yieldtotal", "feedinenergy", "consumeenergy"):
            assert after.record[counter] >= before.record[counter]
        if local_day(before) == local_day(after):
            assert after.record["yieldtoday"] >= before.record["yieldtoday"]

    # yieldtoday is the exact AC energy since local midnight.
    midnight = datetime(2024, 6, 20, tzinfo=AMSTERDAM)
    for upload in today:
        truth = inverter.energy_truth(midnight, upload.available_at)
        assert truth["ac"] == pytest.approx(upload.record["yieldtoday"], abs=0.051)


@pytest.mark.parametrize("wifi_sn", [GRID_SN, HYBRID_SN, THREE_PHASE_SN])
@pytest.mark.parametrize("month", [1, 4, 6, 10])
def test_trapezoid_of_samples_matches_the_truth(wifi_sn: str, month: int) -> None:
    clock = VirtualClock(datetime(2024, month, 10, 2, 0, tzinfo=UTC))
    cloud = SunvecCloud(clock=clock, seed=month)
    cloud.add_inverter(TOKEN, GRID_SN, kind=InverterKind.GRID_TIED)
    cloud.add_inverter(TOKEN, HYBRID_SN, kind=InverterKind.HYBRID)
    cloud.add_inverter(
        TOKEN, THREE_PHASE_SN, kind=InverterKind.THREE_PHASE, peak_power_w=8000.0
    )
    inverter = cloud.inverter(wifi_sn)
    start = clock() + timedelta(hours=1)
    uploads = [u for u in inverter.uploads(start + DAY) if u.available_at >= start]
    truth = inverter.energy_truth(uploads[0].available_at, uploads[-1].available_at)
    assert truth["pv"] > 1.0
    assert trapezoid_kwh(uploads, pv_power) == pytest.approx(truth["pv"], rel=0.02)
    assert trapezoid_kwh(uploads, lambda r: r["acpower"]) == pytest.approx(
        truth["ac"], rel=0.02
    )
    export = trapezoid_kwh(uploads, lambda r: max(r["feedinpower"], 0))
    assert export == pytest.approx(truth["grid_export"], rel=0.05, abs=0.2)


def test_energy_balance_and_battery_limits(
    cloud: SunvecCloud, clock: VirtualClock
) -> None:
    hybrid = cloud.inverter(HYBRID_SN)
    clock.advance(3 * 86400)
    uploads = hybrid.uploads()
    socs = [upload.record["soc"] for upload in uploads]
    assert min(socs) >= 10
    assert max(socs) <= 100
    assert max(socs) == 100  # a sunny June fills the battery
    truth = hybrid.energy_truth(START, clock())
    assert truth["ac"] == pytest.approx(
        0.95 * truth["pv"] - truth["battery_charge"] + truth["battery_discharge"]
    )
    assert truth["battery_charge"] > 5
    assert truth["battery_discharge"] > 5
    # The battery charges from surplus by day and covers the load at night.
    for upload in uploads:
        record = upload.record
        if record["batPower"] > 0:
            assert record["feedinpower"] >= 0
        if record["powerdc1"] == 0 and record["soc"] > 11:
            assert record["batPower"] < 0
            assert record["acpower"] == -record["batPower"]
    grid = cloud.inverter(GRID_SN).energy_truth(START, clock())
    assert grid["battery_charge"] == grid["battery_discharge"] == 0
    assert grid["ac"] == pytest.approx(0.95 * grid["pv"])
    assert grid["grid_import"] > 5  # the household draws power at night


def test_energy_truth_limits(cloud: SunvecCloud, clock: VirtualClock) -> None:
    inverter = cloud.inverter(GRID_SN)
    with pytest.raises(ValueError, match="creation"):
        inverter.energy_truth(START - timedelta(hours=1), START)
    with pytest.raises(ValueError, match="after"):
        inverter.energy_truth(START + DAY, START)
    with pytest.raises(ValueError, match="aware"):
        inverter.energy_truth(datetime(2024, 6, 20), datetime(2024, 6, 21))
    # The end may lie ahead of the clock: the plant is simulated up to it.
    assert inverter.energy_truth(START, START + DAY)["pv"] > 10
    assert inverter.energy_truth(START, START) == dict.fromkeys(
        (
            "pv",
            "ac",
            "battery_charge",
            "battery_discharge",
            "grid_export",
            "grid_import",
        ),
        0.0,
    )


@pytest.mark.parametrize("wifi_sn", [GRID_SN, THREE_PHASE_SN])
async def test_inverters_without_battery_sleep_at_night(
    cloud: SunvecCloud, clock: VirtualClock, wifi_sn: str
) -> None:
    inverter = cloud.inverter(wifi_sn)
    clock.advance(3 * 86400)
    uploads = inverter.uploads()
    days = by_local_day(uploads)
    for day in (date(2024, 6, 20), date(2024, 6, 21)):
        records = [upload.record for upload in days[day]]
        statuses = [record["inverterStatus"] for record in records]
        assert statuses.count("109") == 1
        assert statuses[-1] == "109"
        assert records[-1]["acpower"] == 0
        assert records[-1]["powerdc1"] == records[-1]["powerdc2"] == 0
        assert statuses[0] in {"100", "102"}
        assert set(statuses) <= {"100", "102", "109"}
        sunrise, sunset = inverter.sun_times(day) or (START, START)
        assert days[day][0].available_at > sunrise
        assert sunset - timedelta(hours=1) < days[day][-1].available_at < sunset
    # All night the cloud returns the evening's last record.
    sleep = days[date(2024, 6, 20)][-1]
    wake = days[date(2024, 6, 21)][0]
    assert (wake.available_at - sleep.available_at) > timedelta(hours=6)
    for hours in (1, 3, 5):
        now = int((sleep.available_at + timedelta(hours=hours)).timestamp())
        assert inverter.latest(now) == sleep


def test_hybrid_uploads_all_night(cloud: SunvecCloud, clock: VirtualClock) -> None:
    clock.advance(86400)
    uploads = cloud.inverter(HYBRID_SN).uploads()
    night = [u for u in uploads if 0 <= u.upload_time.hour < 4]
    assert len(night) >= 40
    assert {u.record["inverterStatus"] for u in uploads} == {"102"}
    assert all(u.record["batPower"] < 0 for u in night)


def test_sun_times() -> None:
    clock = VirtualClock(START)
    cloud = SunvecCloud(clock=clock)
    amsterdam = cloud.add_inverter("t", "A", kind=InverterKind.GRID_TIED)
    sunrise, sunset = amsterdam.sun_times(date(2024, 6, 20)) or (START, START)
    # Published: 05:18 and 22:06 local (the simulator uses the geometric horizon).
    assert abs(sunrise - datetime(2024, 6, 20, 5, 18, tzinfo=AMSTERDAM)) < timedelta(
        minutes=15
    )
    assert abs(sunset - datetime(2024, 6, 20, 22, 6, tzinfo=AMSTERDAM)) < timedelta(
        minutes=15
    )
    north = cloud.add_inverter(
        "t", "N", kind=InverterKind.GRID_TIED, latitude=78.2, longitude=15.6
    )
    assert north.sun_times(date(2024, 6, 20)) is None
    assert north.sun_times(date(2024, 12, 20)) is None
    sydney = cloud.add_inverter(
        "t",
        "S",
        kind=InverterKind.HYBRID,
        timezone="Australia/Sydney",
        latitude=-33.87,
        longitude=151.21,
    )
    sunrise, sunset = sydney.sun_times(date(2024, 6, 20)) or (START, START)
    local = ZoneInfo("Australia/Sydney")
    assert abs(sunrise - datetime(2024, 6, 20, 7, 0, tzinfo=local)) < timedelta(
        minutes=15
    )
    assert abs(sunset - datetime(2024, 6, 20, 16, 54, tzinfo=local)) < timedelta(
        minutes=15
    )


def test_upload_time_is_plant_local() -> None:
    clock = VirtualClock(START)
    cloud = SunvecCloud(clock=clock)
    sydney = cloud.add_inverter(
        "t",
        "S",
        kind=InverterKind.HYBRID,
        timezone="Australia/Sydney",
        latitude=-33.87,
        longitude=151.21,
    )
    clock.advance(86400)
    local = ZoneInfo("Australia/Sydney")
    uploads = sydney.uploads()
    for upload in uploads:
        assert upload.upload_time == upload.available_at.astimezone(local).replace(
            tzinfo=None
        )
    # Southern winter day: the sun shines around local noon.
    noon = [u for u in uploads if u.upload_time.hour == 12]
    assert all(pv_power(u.record) > 0 for u in noon)


def test_daylight_saving_days() -> None:
    # 27 October 2024 lasts 25 hours in Amsterdam, 31 March 23.
    for day, hours in ((date(2024, 10, 27), 25), (date(2024, 3, 31), 23)):
        midnight = datetime(day.year, day.month, day.day, tzinfo=AMSTERDAM)
        clock = VirtualClock(midnight)
        cloud = SunvecCloud(clock=clock, missed_upload_probability=0.0)
        hybrid = cloud.add_inverter("t", "H", kind=InverterKind.HYBRID)
        clock.advance(2 * 86400)
        days = by_local_day(hybrid.uploads())
        assert len(days[day]) in range(hours * 12 - 1, hours * 12 + 2)
        assert days[day + DAY][0].record["yieldtoday"] < 0.1
        next_midnight = datetime.combine(
            day + DAY, datetime.min.time(), tzinfo=AMSTERDAM
        )
        assert next_midnight.timestamp() - midnight.timestamp() == hours * 3600
        truth = hybrid.energy_truth(midnight, next_midnight)
        assert truth["ac"] == pytest.approx(days[day][-1].record["yieldtoday"], abs=0.2)


def cadence_cloud(**kwargs: Any) -> tuple[VirtualClock, SunvecCloud, SimulatedInverter]:
    clock = VirtualClock(START)
    cloud = SunvecCloud(clock=clock, **kwargs)
    return clock, cloud, cloud.add_inverter("t", "H", kind=InverterKind.HYBRID)


def test_upload_cadence_and_jitter() -> None:
    clock, _, hybrid = cadence_cloud(missed_upload_probability=0.0)
    clock.advance(86400)
    instants = [u.available_at for u in hybrid.uploads() if u.available_at >= START]
    gaps = [
        (after - before).total_seconds()
        for before, after in itertools.pairwise(instants)
    ]
    assert len(instants) in (287, 288, 289)
    assert all(290 <= gap <= 310 for gap in gaps)
    assert len(set(gaps)) > 5  # jittered, not a fixed beat


def test_missed_uploads() -> None:
    clock, _, hybrid = cadence_cloud(missed_upload_probability=0.25, upload_jitter=0.0)
    clock.advance(4 * 86400)
    instants = [u.available_at for u in hybrid.uploads() if u.available_at >= START]
    gaps = [
        (after - before).total_seconds()
        for before, after in itertools.pairwise(instants)
    ]
    missed = sum(round(gap / 300) - 1 for gap in gaps)
    slots = len(instants) + missed
    assert 0.2 < missed / slots < 0.3


def test_uploads_do_not_depend_on_query_order() -> None:
    clock_a, cloud_a, hybrid_a = cadence_cloud(seed=3)
    clock_b, _, hybrid_b = cadence_cloud(seed=3)
    for _ in range(200):
        clock_a.advance(437)
        hybrid_a.uploads()
    clock_b.advance(200 * 437)
    assert hybrid_a.uploads() == hybrid_b.uploads()
    _, _, hybrid_c = cadence_cloud(seed=4)
    assert [u.available_at for u in hybrid_c.uploads(clock_a())] != [
        u.available_at for u in hybrid_a.uploads()
    ]
    # Each inverter has its own phase.
    other = cloud_a.add_inverter("t", "H2", kind=InverterKind.HYBRID)
    clock_a.advance(3600)
    offsets = {
        inverter.uploads()[-1].available_at.timestamp() % 300
        for inverter in (hybrid_a, other)
    }
    assert len(offsets) == 2


def test_same_record_between_uploads(cloud: SunvecCloud, clock: VirtualClock) -> None:
    hybrid = cloud.inverter(HYBRID_SN)
    clock.advance(12 * 3600)
    last = hybrid.uploads()[-1]
    now = int(last.available_at.timestamp())
    assert hybrid.latest(now) == last
    assert hybrid.latest(now + 200) == last
    assert hybrid.latest(now - 1) != last
    assert hybrid.uploads(last.available_at - timedelta(seconds=1))[-1] != last


def test_a_new_cloud_already_has_records(clock: VirtualClock) -> None:
    # Created in the middle of the night, a grid-tied inverter shows last evening's record.
    cloud = SunvecCloud(clock=clock)
    inverter = cloud.add_inverter("t", "G", kind=InverterKind.GRID_TIED)
    clock.advance(2 * 3600)
    latest = inverter.latest(int(clock().timestamp()))
    assert latest is not None
    assert latest.record["inverterStatus"] == "109"
    assert latest.record["yieldtoday"] > 10


def test_fifty_inverters_for_a_day_is_fast() -> None:
    clock = VirtualClock(START)
    cloud = SunvecCloud(clock=clock)
    kinds = list(InverterKind)
    inverters = [
        cloud.add_inverter("t", f"SN{index:03d}", kind=kinds[index % 3])
        for index in range(50)
    ]
    # CPU time of this process: the simulator's work, not how busy the machine is.
    started = time.process_time()
    clock.advance(86400)
    for inverter in inverters:
        assert inverter.uploads()
    assert time.process_time() - started < 5.0
