"""Tests for the counter guards, the upload clock and staleness."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
import math
from zoneinfo import ZoneInfo

import pytest

from custom_components.sunvec.quality import (
    COUNTER_RESET_MIN_SPAN,
    COUNTER_RESET_MIN_UPLOADS,
    DAY_CARRYOVER_MAX,
    OFFSET_CONFIRM_RECORDS,
    STALE_MIN_AGE,
    DayTotalGuard,
    GuardStatus,
    LifetimeCounterGuard,
    UploadClock,
    is_stale,
    stale_after,
)

BERLIN = ZoneInfo("Europe/Berlin")
HELSINKI = ZoneInfo("Europe/Helsinki")
NEW_YORK = ZoneInfo("America/New_York")
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
    assert guard.pending_uploads == 1
    assert guard.update(2420.6, t[2]) == 2420.6
    assert guard.pending_uploads == 0


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
    assert guard.pending_uploads == 1


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
    assert guard.pending_uploads == 0
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
    assert guard.pending_uploads == 1
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
    assert guard.pending_uploads == 0
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
    assert guard.pending_uploads == 1
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
    guard.restore(2420.5)
    assert guard.last_good == 2420.5
    assert guard.update(0.0, T0) == 2420.5
    assert guard.update(2419.0, T0 + FIVE_MIN) == 2420.5
    assert guard.update(None, T0 + 2 * FIVE_MIN) == 2420.5
    assert guard.update(2420.6, T0 + 3 * FIVE_MIN) == 2420.6


@pytest.mark.parametrize("bad", [None, 0.0, -3.0, math.nan])
def test_counter_restore_ignores_unusable_values(bad: float | None) -> None:
    guard = LifetimeCounterGuard()
    guard.restore(bad)
    assert guard.last_good is None
    guard.restore(12.0)
    guard.restore(bad)
    assert guard.last_good == 12.0


# --- DayTotalGuard -----------------------------------------------------------------

DAY1 = date(2024, 6, 15)
DAY2 = date(2024, 6, 16)
DAY3 = date(2024, 6, 17)


def _local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute)


def test_day_unknown_before_any_value() -> None:
    guard = DayTotalGuard()
    assert guard.value_for(DAY1) is None
    assert guard.update(None, _local(DAY1, 8)) is None
    assert _status(guard) is GuardStatus.MISSING
    assert guard.day is None


def test_day_normal_day() -> None:
    guard = DayTotalGuard()
    for minute, value in enumerate([0.0, 0.1, 0.5, 1.2, 3.4]):
        assert guard.update(value, _local(DAY1, 9, minute * 5)) == value
        assert _status(guard) is GuardStatus.ACCEPTED
    assert guard.value_for(DAY1) == 3.4
    assert guard.day == DAY1
    assert guard.day_max == 3.4


def test_day_lower_glitch_keeps_max() -> None:
    guard = DayTotalGuard()
    guard.update(3.0, _local(DAY1, 12))
    assert guard.update(0.0, _local(DAY1, 12, 5)) == 3.0
    assert _status(guard) is GuardStatus.LOWER
    assert guard.update(2.9, _local(DAY1, 12, 10)) == 3.0
    assert guard.update(3.1, _local(DAY1, 12, 15)) == 3.1


@pytest.mark.parametrize("bad", [-0.1, math.nan, math.inf])
def test_day_invalid_values_keep_max(bad: float) -> None:
    guard = DayTotalGuard()
    guard.update(3.0, _local(DAY1, 12))
    assert guard.update(bad, _local(DAY1, 12, 5)) == 3.0
    assert _status(guard) is GuardStatus.INVALID


def test_day_reset_at_midnight() -> None:
    guard = DayTotalGuard()
    guard.update(10.0, _local(DAY1, 23, 55))
    assert guard.update(0.0, _local(DAY2, 0, 0)) == 0.0
    assert _status(guard) is GuardStatus.NEW_DAY
    assert guard.yesterday_final == 10.0
    assert guard.update(0.1, _local(DAY2, 0, 5)) == 0.1
    assert guard.value_for(DAY2) == 0.1


def test_day_yesterday_value_after_midnight_reads_zero() -> None:
    guard = DayTotalGuard()
    guard.update(10.0, _local(DAY1, 23, 55))
    assert guard.update(10.0, _local(DAY2, 0, 0)) == 0.0
    assert _status(guard) is GuardStatus.CARRYOVER
    assert guard.update(10.0, _local(DAY2, 0, 5)) == 0.0
    assert guard.update(10.2, _local(DAY2, 0, 10)) == 0.0  # still >= yesterday
    assert _status(guard) is GuardStatus.CARRYOVER
    assert guard.value_for(DAY2) == 0.0
    # The inverter reset its day counter: real new-day values from here on.
    assert guard.update(0.0, _local(DAY2, 0, 15)) == 0.0
    assert _status(guard) is GuardStatus.NEW_DAY
    assert guard.update(0.3, _local(DAY2, 0, 20)) == 0.3
    assert guard.update(12.0, _local(DAY2, 15)) == 12.0  # may pass yesterday later


def test_day_carryover_ends_with_any_value_below_yesterday() -> None:
    guard = DayTotalGuard()
    guard.update(10.0, _local(DAY1, 20))
    assert guard.update(10.0, _local(DAY2, 6)) == 0.0
    assert guard.update(0.4, _local(DAY2, 6, 5)) == 0.4


def test_day_carryover_is_bounded_in_time() -> None:
    guard = DayTotalGuard()
    guard.update(0.2, _local(DAY1, 16))  # a snowy day
    start = _local(DAY2, 9)
    assert guard.update(0.3, start) == 0.0
    assert guard.update(1.0, start + DAY_CARRYOVER_MAX - FIVE_MIN) == 0.0
    assert guard.update(1.1, start + DAY_CARRYOVER_MAX) == 1.1
    assert _status(guard) is GuardStatus.NEW_DAY


def test_day_yesterday_value_reappearing_after_reset_is_held() -> None:
    guard = DayTotalGuard()
    guard.update(10.0, _local(DAY2 - timedelta(days=1), 23, 55))
    assert guard.update(0.0, _local(DAY2, 0, 0)) == 0.0
    assert guard.update(10.0, _local(DAY2, 0, 5)) == 0.0  # a stale copy again
    assert _status(guard) is GuardStatus.CARRYOVER
    assert guard.day_max == 0.0
    assert guard.update(0.0, _local(DAY2, 0, 10)) == 0.0
    # Today really reaching yesterday's total late in the day is taken.
    assert guard.update(9.9, _local(DAY2, 15)) == 9.9
    assert guard.update(10.0, _local(DAY2, 15, 5)) == 10.0
    assert _status(guard) is GuardStatus.ACCEPTED


def test_day_reaching_yesterday_early_is_held_one_sample() -> None:
    guard = DayTotalGuard()
    guard.update(2.0, _local(DAY1, 17))
    assert guard.update(0.0, _local(DAY2, 6)) == 0.0
    assert guard.update(1.9, _local(DAY2, 9)) == 1.9
    assert guard.update(2.0, _local(DAY2, 9, 5)) == 1.9
    assert guard.update(2.1, _local(DAY2, 9, 10)) == 2.1


def test_day_restore_with_yesterday_guards_reappearance() -> None:
    guard = DayTotalGuard()
    guard.restore(0.4, DAY2, yesterday_final=10.0)
    assert guard.value_for(DAY2) == 0.4
    assert guard.update(10.0, _local(DAY2, 7)) == 0.4
    assert _status(guard) is GuardStatus.CARRYOVER
    assert guard.update(10.0, _local(DAY2, 13, 5)) == 10.0


def test_day_zero_yesterday_never_carries_over() -> None:
    guard = DayTotalGuard()
    guard.update(0.0, _local(DAY1, 16))
    assert guard.update(0.0, _local(DAY2, 7)) == 0.0
    assert _status(guard) is GuardStatus.NEW_DAY
    assert guard.update(0.1, _local(DAY2, 7, 5)) == 0.1


def test_day_asleep_over_midnight_reads_zero() -> None:
    guard = DayTotalGuard()
    guard.update(5.0, _local(DAY1, 18))
    assert guard.value_for(DAY1) == 5.0
    assert guard.value_for(DAY2) == 0.0
    # The API keeps returning yesterday's last record: still 0 on the new day.
    assert guard.update(5.0, _local(DAY1, 18)) == 5.0
    assert guard.value_for(DAY2) == 0.0
    # The morning's first upload still carries yesterday's total.
    assert guard.update(5.0, _local(DAY2, 6)) == 0.0
    assert guard.update(0.0, _local(DAY2, 6, 5)) == 0.0
    assert guard.update(0.1, _local(DAY2, 6, 10)) == 0.1


def test_day_missing_value_on_new_day_reads_zero() -> None:
    guard = DayTotalGuard()
    guard.update(5.0, _local(DAY1, 18))
    assert guard.update(None, _local(DAY2, 6)) == 0.0
    assert guard.day == DAY1


def test_day_out_of_order_record_is_ignored() -> None:
    guard = DayTotalGuard()
    guard.update(1.0, _local(DAY2, 9))
    assert guard.update(7.0, _local(DAY1, 18)) == 1.0
    assert _status(guard) is GuardStatus.OUT_OF_ORDER
    assert guard.value_for(DAY1) == 1.0  # plant date behind the record's: as is


def test_day_several_days_asleep() -> None:
    guard = DayTotalGuard()
    guard.update(5.0, _local(DAY1, 18))
    assert guard.value_for(DAY3) == 0.0
    assert guard.update(5.0, _local(DAY3, 6)) == 0.0
    assert guard.update(0.0, _local(DAY3, 6, 5)) == 0.0


def test_day_restore_then_glitch_and_midnight() -> None:
    guard = DayTotalGuard()
    guard.restore(5.0, DAY1)
    assert guard.value_for(DAY1) == 5.0
    assert guard.update(4.0, _local(DAY1, 18)) == 5.0
    assert guard.update(5.0, _local(DAY2, 0, 5)) == 0.0
    assert _status(guard) is GuardStatus.CARRYOVER


def test_day_restore_during_carryover_keeps_waiting() -> None:
    guard = DayTotalGuard()
    guard.restore(0.0, DAY2, yesterday_final=5.0)
    assert guard.value_for(DAY2) == 0.0
    assert guard.update(5.0, _local(DAY2, 0, 10)) == 0.0
    assert _status(guard) is GuardStatus.CARRYOVER
    assert guard.update(0.0, _local(DAY2, 0, 15)) == 0.0
    assert _status(guard) is GuardStatus.NEW_DAY
    assert guard.update(0.2, _local(DAY2, 0, 20)) == 0.2


@pytest.mark.parametrize("bad", [None, -1.0, math.nan])
def test_day_restore_ignores_unusable_values(bad: float | None) -> None:
    guard = DayTotalGuard()
    guard.restore(bad, DAY1)
    assert guard.day is None
    guard.restore(2.0, DAY1, yesterday_final=bad)
    assert guard.yesterday_final == 0.0
    assert guard.value_for(DAY1) == 2.0


def test_day_as_dict_round_trip() -> None:
    guard = DayTotalGuard()
    guard.update(10.0, _local(DAY1, 23, 55))
    guard.update(10.0, _local(DAY2, 0, 0))
    data = guard.as_dict()
    assert data == {"day": "2024-06-16", "day_max": 0.0, "yesterday_final": 10.0}
    restored = DayTotalGuard.from_dict(data)
    assert restored.value_for(DAY2) == 0.0
    assert restored.update(10.0, _local(DAY2, 0, 5)) == 0.0
    assert restored.update(0.0, _local(DAY2, 0, 10)) == 0.0
    assert restored.update(0.1, _local(DAY2, 0, 15)) == 0.1


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
    assert guard.day is None
    assert guard.value_for(DAY1) is None
    assert DayTotalGuard().as_dict() == {
        "day": None,
        "day_max": 0.0,
        "yesterday_final": 0.0,
    }


def test_day_from_dict_without_yesterday() -> None:
    guard = DayTotalGuard.from_dict({"day": "2024-06-15", "day_max": 3})
    assert guard.value_for(DAY1) == 3.0
    assert guard.yesterday_final == 0.0


# --- UploadClock -------------------------------------------------------------------


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive wall time an inverter in ``zone`` stamps for ``instant``."""
    return instant.astimezone(zone).replace(tzinfo=None)


def test_clock_default_zone() -> None:
    clock = UploadClock(BERLIN)
    naive = datetime(2024, 6, 15, 12, 0)  # CEST, UTC+2
    result = clock.to_aware(naive, now=T0 + timedelta(minutes=3))
    assert result == datetime(2024, 6, 15, 10, 0, tzinfo=UTC)
    assert result.tzinfo is UTC
    assert clock.offset == timedelta(0)


def test_clock_plant_wall() -> None:
    clock = UploadClock(BERLIN)
    late = datetime(2024, 6, 15, 21, 30, tzinfo=UTC)  # 23:30 Berlin, 00:30 Helsinki
    assert clock.plant_wall(late) == datetime(2024, 6, 15, 23, 30)
    clock.restore(timedelta(hours=1))
    assert clock.plant_wall(late) == datetime(2024, 6, 16, 0, 30)
    assert clock.plant_wall(late).date() == date(2024, 6, 16)


def test_clock_needs_aware_now() -> None:
    clock = UploadClock(BERLIN)
    with pytest.raises(ValueError, match="aware"):
        clock.to_aware(datetime(2024, 6, 15, 12), now=datetime(2024, 6, 15, 12))


def test_clock_aware_input_taken_as_is() -> None:
    clock = UploadClock(BERLIN)
    assert clock.to_aware(T0, now=T0 + FIVE_MIN) == T0
    assert clock.to_aware(T0 + FIVE_MIN, now=T0) == T0  # still clamped


def test_clock_learns_east_offset_from_future_timestamps() -> None:
    clock = UploadClock(BERLIN)  # plant in Helsinki: one hour ahead
    for i in range(12):
        upload = T0 + i * FIVE_MIN
        now = upload + timedelta(minutes=2)
        result = clock.to_aware(_wall(upload, HELSINKI), now=now)
        assert result <= now
        if i < OFFSET_CONFIRM_RECORDS:
            # The first call teaches nothing; the next ones are confirming.
            assert clock.offset == timedelta(0)
            assert result == now
        else:
            assert clock.offset == timedelta(hours=1)
            assert result == upload


def test_clock_single_outlier_ignored() -> None:
    clock = UploadClock(BERLIN)
    for i in range(20):
        upload = T0 + i * FIVE_MIN
        now = upload + timedelta(minutes=2)
        naive = _wall(upload, BERLIN)
        if i == 8:
            naive += timedelta(hours=1)  # one record with a wrong clock
        result = clock.to_aware(naive, now=now)
        assert clock.offset == timedelta(0)
        assert result == (now if i == 8 else upload)


def test_clock_short_burst_of_outliers_ignored() -> None:
    clock = UploadClock(BERLIN)
    for i in range(20):
        upload = T0 + i * FIVE_MIN
        naive = _wall(upload, BERLIN)
        if 5 <= i < 5 + OFFSET_CONFIRM_RECORDS - 1:
            naive += timedelta(hours=2)
        clock.to_aware(naive, now=upload + timedelta(minutes=1))
        assert clock.offset == timedelta(0)


def test_clock_learns_west_offset_while_new_records_arrive() -> None:
    clock = UploadClock(BERLIN)  # plant in New York: six hours behind
    for i in range(10):
        upload = T0 + i * FIVE_MIN
        now = upload + timedelta(minutes=4)
        result = clock.to_aware(_wall(upload, NEW_YORK), now=now)
        if i < OFFSET_CONFIRM_RECORDS:
            assert clock.offset == timedelta(0)
            assert result == upload - timedelta(hours=6)
        else:
            assert clock.offset == timedelta(hours=-6)
            assert result == upload


def test_clock_repeated_old_record_teaches_nothing() -> None:
    clock = UploadClock(BERLIN)
    last = datetime(2024, 6, 14, 22, 0)  # inverter asleep since 22:00 local
    expected = datetime(2024, 6, 14, 20, 0, tzinfo=UTC)
    for i in range(100):
        now = T0 + i * FIVE_MIN
        assert clock.to_aware(last, now=now) == expected
    assert clock.offset == timedelta(0)


def test_clock_first_record_teaches_nothing() -> None:
    clock = UploadClock(BERLIN)
    # Hours old on start-up, then a fresh one: only the fresh one is evidence.
    clock.to_aware(datetime(2024, 6, 15, 6, 0), now=T0)
    clock.to_aware(datetime(2024, 6, 15, 12, 0), now=T0 + timedelta(minutes=2))
    assert clock.offset == timedelta(0)


def test_clock_ordinary_latency_never_triggers() -> None:
    clock = UploadClock(BERLIN)
    lags = [0, 6, 3, 5, 1, 6, 6, 6, 0, 0, 2, 4, 6, 6, 6, 6, 6, 0, 5, 5]
    for round_ in range(5):
        for i, lag in enumerate(lags):
            upload = T0 + (round_ * len(lags) + i) * FIVE_MIN
            now = upload + timedelta(minutes=lag)
            assert clock.to_aware(_wall(upload, BERLIN), now=now) == upload
            assert clock.offset == timedelta(0)


def test_clock_slow_polling_and_fast_clock_never_trigger() -> None:
    clock = UploadClock(BERLIN)
    for i in range(40):
        upload = T0 + 2 * i * FIVE_MIN  # every other upload seen (10-minute polls)
        now = upload + timedelta(minutes=9)
        naive = _wall(upload + timedelta(minutes=1), BERLIN)  # inverter 1 min fast
        clock.to_aware(naive, now=now)
        assert clock.offset == timedelta(0)


def test_clock_gap_without_evidence() -> None:
    clock = UploadClock(BERLIN)
    now = T0
    clock.to_aware(_wall(now, HELSINKI), now=now)
    # Same poll instant again, and then a pause longer than an hour: no evidence.
    clock.to_aware(_wall(now + FIVE_MIN, HELSINKI), now=now)
    for i in range(1, 8):
        now += timedelta(hours=2)
        clock.to_aware(_wall(now - FIVE_MIN * i, HELSINKI), now=now)
    assert clock.offset == timedelta(0)


def test_clock_ignores_clock_beyond_any_zone() -> None:
    clock = UploadClock(BERLIN)
    for i in range(10):
        upload = T0 + i * FIVE_MIN
        now = upload + timedelta(minutes=1)
        result = clock.to_aware(_wall(upload + timedelta(days=400), BERLIN), now=now)
        assert result == now
    assert clock.offset == timedelta(0)


def test_clock_utc_hint_wins() -> None:
    clock = UploadClock(BERLIN)
    now = T0 + timedelta(minutes=3)
    naive = _wall(T0, HELSINKI)
    assert clock.to_aware(naive, now=now, utc_hint=T0) == T0
    assert clock.offset == timedelta(hours=1)
    # Without the hint on the next record the learned offset applies.
    upload = T0 + FIVE_MIN
    assert clock.to_aware(_wall(upload, HELSINKI), now=upload + FIVE_MIN) == upload


def test_clock_naive_utc_hint_is_utc_and_clamped() -> None:
    clock = UploadClock(BERLIN)
    hint = datetime(2024, 6, 15, 10, 0)
    naive = _wall(T0, NEW_YORK)
    assert clock.to_aware(naive, now=T0 + FIVE_MIN, utc_hint=hint) == T0
    assert clock.offset == timedelta(hours=-6)
    assert clock.to_aware(naive, now=T0 - FIVE_MIN, utc_hint=hint) == T0 - FIVE_MIN


def test_clock_never_in_future() -> None:
    clock = UploadClock(BERLIN)
    now = T0
    result = clock.to_aware(datetime(2024, 6, 15, 13, 0), now=now)
    assert result == now


def test_clock_restore_offset() -> None:
    clock = UploadClock(BERLIN)
    clock.restore(timedelta(hours=1, minutes=1))
    assert clock.offset == timedelta(hours=1)
    assert clock.to_aware(_wall(T0, HELSINKI), now=T0 + FIVE_MIN) == T0
    clock.restore(timedelta(days=3))
    assert clock.offset == timedelta(hours=1)


def test_clock_relearns_after_plant_dst_change() -> None:
    clock = UploadClock(BERLIN)
    # US DST starts 2024-03-10 07:00 UTC; Berlin stays on CET until 2024-03-31.
    start = datetime(2024, 3, 10, 5, 0, tzinfo=UTC)
    switch = datetime(2024, 3, 10, 7, 0, tzinfo=UTC)
    after_switch = 0
    for i in range(48):
        upload = start + i * FIVE_MIN
        now = upload + timedelta(minutes=2)
        result = clock.to_aware(_wall(upload, NEW_YORK), now=now)
        assert result <= now
        if timedelta(hours=1) <= upload - start < timedelta(hours=2):
            assert clock.offset == timedelta(hours=-6)
            assert result == upload
        if upload >= switch:
            after_switch += 1
            if after_switch <= OFFSET_CONFIRM_RECORDS - 1:
                assert clock.offset == timedelta(hours=-6)
                assert result == now  # an hour in the future: clamped
            else:
                assert clock.offset == timedelta(hours=-5)
                assert result == upload


def test_clock_home_assistant_dst_fall_back() -> None:
    clock = UploadClock(BERLIN)  # plant and Home Assistant both in Berlin
    # 2024-10-27: 03:00 CEST becomes 02:00 CET at 01:00 UTC; 02:xx happens twice.
    start = datetime(2024, 10, 26, 23, 30, tzinfo=UTC)
    for i in range(36):
        upload = start + i * FIVE_MIN
        now = upload + timedelta(minutes=2)
        assert clock.to_aware(_wall(upload, BERLIN), now=now) == upload
        assert clock.offset == timedelta(0)


def test_clock_hint_in_repeated_hour() -> None:
    clock = UploadClock(BERLIN)
    upload = datetime(2024, 10, 27, 1, 30, tzinfo=UTC)  # 02:30 CET, second time
    naive = _wall(upload, BERLIN)
    assert clock.to_aware(naive, now=upload + FIVE_MIN, utc_hint=upload) == upload
    assert clock.offset == timedelta(0)


# --- Staleness ---------------------------------------------------------------------


def test_stale_after_three_periods_at_least_fifteen_minutes() -> None:
    assert stale_after(300) == timedelta(minutes=15)
    assert stale_after(600) == timedelta(minutes=30)
    assert stale_after(60) == STALE_MIN_AGE
    assert stale_after(0) == STALE_MIN_AGE
    assert stale_after(-5) == STALE_MIN_AGE
    assert stale_after(600, periods=5) == timedelta(minutes=50)


def test_is_stale() -> None:
    upload = T0
    assert not is_stale(upload, upload + timedelta(minutes=15), 300)
    assert is_stale(upload, upload + timedelta(minutes=15, seconds=1), 300)
    assert not is_stale(upload, upload + timedelta(minutes=29), 600)
    assert is_stale(upload, upload + timedelta(minutes=31), 600)
    assert not is_stale(upload, upload - timedelta(minutes=5), 300)
    assert is_stale(upload, upload + timedelta(minutes=21), 300, periods=4)
