"""Tests for the value guards: lifetime counters and the day total."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
import math
from zoneinfo import ZoneInfo

import pytest

from custom_components.sunvec.guards import (
    COUNTER_RESET_MIN_SPAN,
    COUNTER_RESET_MIN_UPLOADS,
    DAY_CARRYOVER_MAX,
    MAX_DAY_KWH,
    MAX_LIFETIME_KWH,
    MAX_POWER_W,
    DayTotalGuard,
    GuardStatus,
    LifetimeCounterGuard,
    plausible_record,
)

from .conftest import example_record

BERLIN = ZoneInfo("Europe/Berlin")
FIVE_MIN = timedelta(minutes=5)
T0 = datetime(2024, 6, 15, 10, 0, tzinfo=UTC)


def _status(guard: LifetimeCounterGuard | DayTotalGuard) -> GuardStatus | None:
    """Read the status afresh (keeps mypy from narrowing it across calls)."""
    return guard.status


# --- LifetimeCounterGuard ----------------------------------------------------------


def _times(
    count: int, start: datetime = T0, step: timedelta = FIVE_MIN
) -> list[datetime]:
    return [start + i * step for i in range(count)]


def test_counter_starts_unknown() -> None:
    guard = LifetimeCounterGuard()
    assert guard.last_good is None
    assert guard.status is None
    assert guard.update(None, T0) is None
    assert _status(guard) is GuardStatus.MISSING
    assert guard.update(0.0, T0 + FIVE_MIN) is None
    assert _status(guard) is GuardStatus.INVALID


def test_counter_accepts_increasing_values() -> None:
    guard = LifetimeCounterGuard()
    t = _times(3)
    assert guard.update(2420.5, t[0]) == 2420.5
    assert _status(guard) is GuardStatus.ACCEPTED
    assert guard.update(2420.5, t[1]) == 2420.5
    assert guard.update(2420.7, t[2]) == 2420.7
    assert guard.last_good == 2420.7


def test_counter_glitch_to_zero_keeps_last_good() -> None:
    guard = LifetimeCounterGuard()
    t = _times(3)
    guard.update(2420.5, t[0])
    assert guard.update(0.0, t[1]) == 2420.5
    assert _status(guard) is GuardStatus.INVALID
    assert guard.update(2420.6, t[2]) == 2420.6
    assert _status(guard) is GuardStatus.ACCEPTED


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf, -math.inf])
def test_counter_non_finite_or_negative_is_invalid(bad: float) -> None:
    guard = LifetimeCounterGuard()
    guard.update(10.0, T0)
    assert guard.update(bad, T0 + FIVE_MIN) == 10.0
    assert _status(guard) is GuardStatus.INVALID


def test_counter_glitch_slightly_lower_keeps_last_good() -> None:
    guard = LifetimeCounterGuard()
    t = _times(3)
    guard.update(2420.5, t[0])
    assert guard.update(2420.4, t[1]) == 2420.5
    assert _status(guard) is GuardStatus.LOWER
    assert guard.update(2420.6, t[2]) == 2420.6


def test_counter_none_keeps_last_good() -> None:
    guard = LifetimeCounterGuard()
    guard.update(2420.5, T0)
    assert guard.update(None, T0 + FIVE_MIN) == 2420.5
    assert _status(guard) is GuardStatus.MISSING


def test_counter_same_upload_twice_counts_once() -> None:
    guard = LifetimeCounterGuard()
    guard.update(2420.5, T0)
    assert guard.update(2420.5, T0) == 2420.5
    assert _status(guard) is GuardStatus.DUPLICATE
    # A lower record polled again and again is still one upload.
    lower_time = T0 + FIVE_MIN
    for _ in range(50):
        assert guard.update(1.0, lower_time) == 2420.5
    # Counted once: it takes five more distinct uploads over an hour to replace.
    later = _times(
        COUNTER_RESET_MIN_UPLOADS - 1, lower_time + 15 * FIVE_MIN, 3 * FIVE_MIN
    )
    for t in later[:-1]:
        assert guard.update(1.0, t) == 2420.5
    assert guard.update(1.0, later[-1]) == 1.0


def test_counter_meter_replacement_needs_uploads_and_span() -> None:
    guard = LifetimeCounterGuard()
    guard.update(2420.5, T0 - FIVE_MIN)
    # New meter: small, growing values every 5 minutes.
    times = _times(13)
    for i, t in enumerate(times[:-1]):
        assert guard.update(0.1 * (i + 1), t) == 2420.5
        assert _status(guard) is GuardStatus.LOWER
    # The 13th upload is one hour after the first lower one: accepted.
    assert times[-1] - times[0] == COUNTER_RESET_MIN_SPAN
    assert guard.update(1.3, times[-1]) == 1.3
    assert _status(guard) is GuardStatus.REPLACED
    assert guard.update(1.4, times[-1] + FIVE_MIN) == 1.4
    assert _status(guard) is GuardStatus.ACCEPTED


def test_counter_replacement_needs_enough_uploads() -> None:
    guard = LifetimeCounterGuard()
    guard.update(2420.5, T0 - FIVE_MIN)
    # Sparse uploads: the span is reached long before the count.
    times = _times(COUNTER_RESET_MIN_UPLOADS, step=timedelta(hours=1))
    for t in times[:-1]:
        assert guard.update(5.0, t) == 2420.5
    assert guard.update(5.0, times[-1]) == 5.0
    assert _status(guard) is GuardStatus.REPLACED


def test_counter_replacement_run_restarts_when_values_decrease() -> None:
    guard = LifetimeCounterGuard(confirm_uploads=3, confirm_span=timedelta(minutes=10))
    guard.update(100.0, T0 - FIVE_MIN)
    t = _times(6)
    guard.update(50.0, t[0])
    guard.update(50.0, t[1])
    guard.update(40.0, t[2])  # lower than the run: starts over
    guard.update(40.0, t[3])
    assert guard.update(40.0, t[4]) == 40.0
    assert _status(guard) is GuardStatus.REPLACED


def test_counter_replacement_run_cleared_by_good_value() -> None:
    guard = LifetimeCounterGuard(confirm_uploads=3, confirm_span=timedelta(minutes=10))
    guard.update(100.0, T0 - FIVE_MIN)
    t = _times(6)
    guard.update(50.0, t[0])
    guard.update(50.0, t[1])
    guard.update(100.0, t[2])
    guard.update(50.0, t[3])
    assert guard.update(50.0, t[4]) == 100.0
    assert guard.update(50.0, t[5]) == 50.0


def test_counter_none_and_zero_neither_count_nor_break_the_run() -> None:
    guard = LifetimeCounterGuard(confirm_uploads=3, confirm_span=timedelta(minutes=20))
    guard.update(100.0, T0 - FIVE_MIN)
    t = _times(5)
    guard.update(1.0, t[0])
    guard.update(None, t[1])
    guard.update(0.0, t[2])
    guard.update(1.0, t[3])
    assert guard.update(1.1, t[4]) == 1.1
    assert _status(guard) is GuardStatus.REPLACED


def test_counter_glitch_burst_shorter_than_window_is_held() -> None:
    guard = LifetimeCounterGuard()
    guard.update(2420.5, T0 - FIVE_MIN)
    for t in _times(11):  # 50 minutes of zeros and lower values
        guard.update(2400.0, t)
    assert guard.last_good == 2420.5
    assert guard.update(2420.6, T0 + 11 * FIVE_MIN) == 2420.6


def test_counter_restore_then_glitch_no_spike() -> None:
    guard = LifetimeCounterGuard()
    guard.restore(2420.5, None)
    assert guard.last_good == 2420.5
    assert guard.update(0.0, T0) == 2420.5
    assert guard.update(2419.0, T0 + FIVE_MIN) == 2420.5
    assert guard.update(None, T0 + 2 * FIVE_MIN) == 2420.5
    assert guard.update(2420.6, T0 + 3 * FIVE_MIN) == 2420.6


@pytest.mark.parametrize("bad", [None, 0.0, -3.0, math.nan, MAX_LIFETIME_KWH * 2])
def test_counter_restore_ignores_unusable_values(bad: float | None) -> None:
    guard = LifetimeCounterGuard()
    guard.restore(bad, None)
    assert guard.last_good is None
    guard.restore(12.0, None)
    guard.restore(bad, None)
    assert guard.last_good == 12.0


def test_counter_rise_faster_than_any_inverter_is_held() -> None:
    """1e7 kWh for one sample: kept out, and the true value after it is no reset."""
    guard = LifetimeCounterGuard()
    guard.update(2420.5, T0)
    assert guard.update(1e7, T0 + FIVE_MIN) == 2420.5
    assert _status(guard) is GuardStatus.IMPLAUSIBLE
    assert guard.update(2420.6, T0 + 2 * FIVE_MIN) == 2420.6
    assert _status(guard) is GuardStatus.ACCEPTED


def test_counter_rise_as_fast_as_an_inverter_can_is_taken() -> None:
    guard = LifetimeCounterGuard()
    guard.update(2420.5, T0)
    full_power_for_an_hour = MAX_POWER_W / 1000
    assert guard.update(2420.5 + full_power_for_an_hour, T0 + timedelta(hours=1)) == (
        2420.5 + full_power_for_an_hour
    )
    assert guard.update(5000.0, T0 + timedelta(hours=1, minutes=5)) == (
        2420.5 + full_power_for_an_hour
    )
    # After a week without uploads a week's production is possible.
    week = T0 + timedelta(days=7)
    assert guard.update(5000.0, week) == 5000.0


def test_counter_a_glitch_as_the_first_value_is_replaced_by_the_truth() -> None:
    """The first value ever seen was too low: the real counter wins after an hour."""
    guard = LifetimeCounterGuard()
    guard.update(0.5, T0)
    times = _times(COUNTER_RESET_MIN_UPLOADS + 7, T0 + FIVE_MIN)
    for i, t in enumerate(times[:-1]):
        assert guard.update(2420.5 + 0.1 * i, t) == 0.5
    assert guard.update(2421.8, times[-1]) == 2421.8
    assert _status(guard) is GuardStatus.REPLACED


def test_counter_restored_with_its_time_judges_the_first_rise() -> None:
    guard = LifetimeCounterGuard()
    guard.restore(2420.5, T0)
    assert guard.update(9e6, T0 + FIVE_MIN) == 2420.5
    assert guard.as_dict() == {"last_good": 2420.5, "last_time": T0.isoformat()}


def test_counter_beyond_a_lifetime_is_invalid() -> None:
    guard = LifetimeCounterGuard()
    assert guard.update(MAX_LIFETIME_KWH * 2, T0) is None
    assert _status(guard) is GuardStatus.INVALID


# --- Readings ------------------------------------------------------------------------


def test_readings_no_inverter_can_produce_are_missing() -> None:
    record = example_record(
        acpower=1e7,
        feedinpower=-3000,
        batPower="1e308",
        soc=140,
        powerdc1=10**30,
        powerdc2=250,
        peps1=-2e6,
        yieldtoday=1e9,
        yieldtotal=2420.5,
    )
    plausible, dropped = plausible_record(record)
    assert dropped == (
        "ac_power",
        "battery_power",
        "battery_soc",
        "eps_power",
        "pv_power",
        "yield_today",
    )
    assert plausible.ac_power is None
    assert plausible.feed_in_power == -3000
    assert plausible.battery_power is None
    assert plausible.battery_soc is None
    assert plausible.pv_power == (None, 250.0, None, None)
    assert plausible.eps_power == (None, None, None)
    assert plausible.yield_today is None
    assert plausible.yield_total == 2420.5
    assert plausible_record(example_record()) == (example_record(), ())


# --- DayTotalGuard -----------------------------------------------------------------

DAY1 = date(2024, 6, 15)
DAY2 = date(2024, 6, 16)
DAY3 = date(2024, 6, 17)


def _local(day: date, hour: int, minute: int = 0) -> tuple[datetime, date]:
    """Return an upload at the plant's wall time: its instant and its plant day."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN), day


def test_day_unknown_before_any_value() -> None:
    guard = DayTotalGuard()
    assert guard.value_for(DAY1) is None
    assert guard.update(None, *_local(DAY1, 8)) is None
    assert _status(guard) is GuardStatus.MISSING
    assert guard.as_dict()["day"] is None


def test_day_normal_day() -> None:
    guard = DayTotalGuard()
    for minute, value in enumerate([0.0, 0.1, 0.5, 1.2, 3.4]):
        assert guard.update(value, *_local(DAY1, 9, minute * 5)) == value
        assert _status(guard) is GuardStatus.ACCEPTED
    assert guard.value_for(DAY1) == 3.4
    assert guard.as_dict()["day"] == DAY1.isoformat()
    assert guard.as_dict()["day_max"] == 3.4


def test_day_lower_glitch_keeps_max() -> None:
    guard = DayTotalGuard()
    guard.update(3.0, *_local(DAY1, 12))
    assert guard.update(0.0, *_local(DAY1, 12, 5)) == 3.0
    assert _status(guard) is GuardStatus.LOWER
    assert guard.update(2.9, *_local(DAY1, 12, 10)) == 3.0
    assert guard.update(3.1, *_local(DAY1, 12, 15)) == 3.1


@pytest.mark.parametrize("bad", [-0.1, math.nan, math.inf])
def test_day_invalid_values_keep_max(bad: float) -> None:
    guard = DayTotalGuard()
    guard.update(3.0, *_local(DAY1, 12))
    assert guard.update(bad, *_local(DAY1, 12, 5)) == 3.0
    assert _status(guard) is GuardStatus.INVALID


def test_day_reset_at_midnight() -> None:
    guard = DayTotalGuard()
    guard.update(10.0, *_local(DAY1, 23, 55))
    assert guard.update(0.0, *_local(DAY2, 0, 0)) == 0.0
    assert _status(guard) is GuardStatus.NEW_DAY
    assert guard.as_dict()["yesterday_final"] == 10.0
    assert guard.update(0.1, *_local(DAY2, 0, 5)) == 0.1
    assert guard.value_for(DAY2) == 0.1


def test_day_yesterday_value_after_midnight_reads_zero() -> None:
    guard = DayTotalGuard()
    guard.update(10.0, *_local(DAY1, 23, 55))
    assert guard.update(10.0, *_local(DAY2, 0, 0)) == 0.0
    assert _status(guard) is GuardStatus.CARRYOVER
    assert guard.update(10.0, *_local(DAY2, 0, 5)) == 0.0
    assert guard.update(10.2, *_local(DAY2, 0, 10)) == 0.0  # still >= yesterday
    assert _status(guard) is GuardStatus.CARRYOVER
    assert guard.value_for(DAY2) == 0.0
    # The inverter reset its day counter: real new-day values from here on.
    assert guard.update(0.0, *_local(DAY2, 0, 15)) == 0.0
    assert _status(guard) is GuardStatus.NEW_DAY
    assert guard.update(0.3, *_local(DAY2, 0, 20)) == 0.3
    assert guard.update(12.0, *_local(DAY2, 15)) == 12.0  # may pass yesterday later


def test_day_carryover_ends_with_any_value_below_yesterday() -> None:
    guard = DayTotalGuard()
    guard.update(10.0, *_local(DAY1, 20))
    assert guard.update(10.0, *_local(DAY2, 6)) == 0.0
    assert guard.update(0.4, *_local(DAY2, 6, 5)) == 0.4


def test_day_carryover_is_bounded_in_time() -> None:
    guard = DayTotalGuard()
    guard.update(0.2, *_local(DAY1, 16))  # a snowy day
    start, day = _local(DAY2, 9)
    assert guard.update(0.3, start, day) == 0.0
    assert guard.update(1.0, start + DAY_CARRYOVER_MAX - FIVE_MIN, day) == 0.0
    assert guard.update(1.1, start + DAY_CARRYOVER_MAX, day) == 1.1
    assert _status(guard) is GuardStatus.NEW_DAY


def test_day_yesterday_value_reappearing_after_reset_is_held() -> None:
    guard = DayTotalGuard()
    guard.update(10.0, *_local(DAY2 - timedelta(days=1), 23, 55))
    assert guard.update(0.0, *_local(DAY2, 0, 0)) == 0.0
    assert guard.update(10.0, *_local(DAY2, 0, 5)) == 0.0  # a stale copy again
    assert _status(guard) is GuardStatus.CARRYOVER
    assert guard.as_dict()["day_max"] == 0.0
    assert guard.update(0.0, *_local(DAY2, 0, 10)) == 0.0
    # Today really reaching yesterday's total late in the day is taken.
    assert guard.update(9.9, *_local(DAY2, 15)) == 9.9
    assert guard.update(10.0, *_local(DAY2, 15, 5)) == 10.0
    assert _status(guard) is GuardStatus.ACCEPTED


def test_day_reaching_yesterday_early_is_held_one_sample() -> None:
    guard = DayTotalGuard()
    guard.update(2.0, *_local(DAY1, 17))
    assert guard.update(0.0, *_local(DAY2, 6)) == 0.0
    assert guard.update(1.9, *_local(DAY2, 9)) == 1.9
    assert guard.update(2.0, *_local(DAY2, 9, 5)) == 1.9
    assert guard.update(2.1, *_local(DAY2, 9, 10)) == 2.1


def test_day_restore_with_yesterday_guards_reappearance() -> None:
    guard = DayTotalGuard()
    guard.restore(0.4, DAY2, yesterday_final=10.0)
    assert guard.value_for(DAY2) == 0.4
    assert guard.update(10.0, *_local(DAY2, 7)) == 0.4
    assert _status(guard) is GuardStatus.CARRYOVER
    assert guard.update(10.0, *_local(DAY2, 13, 5)) == 10.0


def test_day_zero_yesterday_never_carries_over() -> None:
    guard = DayTotalGuard()
    guard.update(0.0, *_local(DAY1, 16))
    assert guard.update(0.0, *_local(DAY2, 7)) == 0.0
    assert _status(guard) is GuardStatus.NEW_DAY
    assert guard.update(0.1, *_local(DAY2, 7, 5)) == 0.1


def test_day_asleep_over_midnight_reads_zero() -> None:
    guard = DayTotalGuard()
    guard.update(5.0, *_local(DAY1, 18))
    assert guard.value_for(DAY1) == 5.0
    assert guard.value_for(DAY2) == 0.0
    # The API keeps returning yesterday's last record: still 0 on the new day.
    assert guard.update(5.0, *_local(DAY1, 18)) == 5.0
    assert guard.value_for(DAY2) == 0.0
    # The morning's first upload still carries yesterday's total.
    assert guard.update(5.0, *_local(DAY2, 6)) == 0.0
    assert guard.update(0.0, *_local(DAY2, 6, 5)) == 0.0
    assert guard.update(0.1, *_local(DAY2, 6, 10)) == 0.1


def test_day_missing_value_on_new_day_reads_zero() -> None:
    guard = DayTotalGuard()
    guard.update(5.0, *_local(DAY1, 18))
    assert guard.update(None, *_local(DAY2, 6)) == 0.0
    assert guard.as_dict()["day"] == DAY1.isoformat()


def test_day_out_of_order_record_is_ignored() -> None:
    guard = DayTotalGuard()
    guard.update(1.0, *_local(DAY2, 9))
    assert guard.update(7.0, *_local(DAY1, 18)) == 1.0
    assert _status(guard) is GuardStatus.OUT_OF_ORDER
    assert guard.value_for(DAY1) == 1.0  # plant date behind the record's: as is


def test_day_several_days_asleep() -> None:
    guard = DayTotalGuard()
    guard.update(5.0, *_local(DAY1, 18))
    assert guard.value_for(DAY3) == 0.0
    assert guard.update(5.0, *_local(DAY3, 6)) == 0.0
    assert guard.update(0.0, *_local(DAY3, 6, 5)) == 0.0


def test_day_restore_then_glitch_and_midnight() -> None:
    guard = DayTotalGuard()
    guard.restore(5.0, DAY1)
    assert guard.value_for(DAY1) == 5.0
    assert guard.update(4.0, *_local(DAY1, 18)) == 5.0
    assert guard.update(5.0, *_local(DAY2, 0, 5)) == 0.0
    assert _status(guard) is GuardStatus.CARRYOVER


def test_day_restore_during_carryover_keeps_waiting() -> None:
    guard = DayTotalGuard()
    guard.restore(0.0, DAY2, yesterday_final=5.0)
    assert guard.value_for(DAY2) == 0.0
    assert guard.update(5.0, *_local(DAY2, 0, 10)) == 0.0
    assert _status(guard) is GuardStatus.CARRYOVER
    assert guard.update(0.0, *_local(DAY2, 0, 15)) == 0.0
    assert _status(guard) is GuardStatus.NEW_DAY
    assert guard.update(0.2, *_local(DAY2, 0, 20)) == 0.2


@pytest.mark.parametrize("bad", [None, -1.0, math.nan])
def test_day_restore_ignores_unusable_values(bad: float | None) -> None:
    guard = DayTotalGuard()
    guard.restore(bad, DAY1)
    assert guard.as_dict()["day"] is None
    guard.restore(2.0, DAY1, yesterday_final=bad)
    assert guard.as_dict()["yesterday_final"] == 0.0
    assert guard.value_for(DAY1) == 2.0


def test_day_as_dict_round_trip() -> None:
    guard = DayTotalGuard()
    guard.update(10.0, *_local(DAY1, 23, 55))
    guard.update(10.0, *_local(DAY2, 0, 0))
    data = guard.as_dict()
    assert data == {"day": "2024-06-16", "day_max": 0.0, "yesterday_final": 10.0}
    restored = DayTotalGuard.from_dict(data)
    assert restored.value_for(DAY2) == 0.0
    assert restored.update(10.0, *_local(DAY2, 0, 5)) == 0.0
    assert restored.update(0.0, *_local(DAY2, 0, 10)) == 0.0
    assert restored.update(0.1, *_local(DAY2, 0, 15)) == 0.1


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"day": None, "day_max": 1.0},
        {"day": "not a date", "day_max": 1.0},
        {"day": "2024-06-15", "day_max": "1.0"},
    ],
)
def test_day_from_dict_bad_data_starts_fresh(data: dict[str, object]) -> None:
    guard = DayTotalGuard.from_dict(data)
    assert guard.as_dict()["day"] is None
    assert guard.value_for(DAY1) is None
    assert DayTotalGuard().as_dict() == {
        "day": None,
        "day_max": 0.0,
        "yesterday_final": 0.0,
    }


def test_day_from_dict_without_yesterday() -> None:
    guard = DayTotalGuard.from_dict({"day": "2024-06-15", "day_max": 3})
    assert guard.value_for(DAY1) == 3.0
    assert guard.as_dict()["yesterday_final"] == 0.0


def test_day_a_day_that_has_not_begun_is_ignored() -> None:
    """One record claiming tomorrow (2099, or a clock hours fast) freezes nothing."""
    guard = DayTotalGuard()
    guard.update(3.0, *_local(DAY1, 12), today=DAY1)
    assert guard.update(7.0, *_local(DAY3, 12), today=DAY1) == 3.0
    assert _status(guard) is GuardStatus.FUTURE_DAY
    assert guard.update(3.2, *_local(DAY1, 12, 5), today=DAY1) == 3.2
    assert guard.value_for(DAY1) == 3.2


def test_day_rise_faster_than_any_inverter_is_held() -> None:
    guard = DayTotalGuard()
    guard.update(3.0, *_local(DAY1, 12))
    assert guard.update(900.0, *_local(DAY1, 12, 5)) == 3.0
    assert _status(guard) is GuardStatus.IMPLAUSIBLE
    assert guard.update(3.1, *_local(DAY1, 12, 10)) == 3.1
    assert guard.update(MAX_DAY_KWH + 1, *_local(DAY2, 12)) == 0.0
    assert _status(guard) is GuardStatus.INVALID


def test_day_restored_day_that_has_not_begun_starts_afresh() -> None:
    reported: list[str] = []
    restored = DayTotalGuard.from_dict(
        {"day": "2099-01-01", "day_max": 12.0, "yesterday_final": 3.0},
        today=DAY1,
        report=reported.append,
    )
    assert restored.value_for(DAY1) is None
    assert restored.update(0.4, *_local(DAY1, 8), today=DAY1) == 0.4
    assert len(reported) == 1
