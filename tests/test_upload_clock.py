"""Tests for the upload clock and staleness."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from custom_components.sunvec.upload_clock import (
    OFFSET_CONFIRM_RECORDS,
    STALE_MIN_AGE,
    ImplausibleTimeError,
    UploadClock,
    is_stale,
    stale_after,
)

BERLIN = ZoneInfo("Europe/Berlin")
HELSINKI = ZoneInfo("Europe/Helsinki")
NEW_YORK = ZoneInfo("America/New_York")
FIVE_MIN = timedelta(minutes=5)
T0 = datetime(2024, 6, 15, 10, 0, tzinfo=UTC)


def _instant(clock: UploadClock, wall: datetime, **kwargs: Any) -> datetime:
    """Read a record's upload time; return its instant."""
    return clock.read(wall, **kwargs).instant


# --- UploadClock -------------------------------------------------------------------


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    """The naive wall time an inverter in ``zone`` stamps for ``instant``."""
    return instant.astimezone(zone).replace(tzinfo=None)


def test_clock_default_zone() -> None:
    clock = UploadClock(BERLIN)
    naive = datetime(2024, 6, 15, 12, 0)  # CEST, UTC+2
    result = _instant(clock, naive, now=T0 + timedelta(minutes=3))
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
        _instant(clock, datetime(2024, 6, 15, 12), now=datetime(2024, 6, 15, 12))


def test_clock_aware_input_taken_as_is() -> None:
    clock = UploadClock(BERLIN)
    assert _instant(clock, T0, now=T0 + FIVE_MIN) == T0
    # A minute ahead (a clock a little fast): possible, shown now.
    assert _instant(clock, T0 + timedelta(minutes=1), now=T0) == T0


def test_clock_learns_east_offset_from_future_timestamps() -> None:
    clock = UploadClock(BERLIN)  # plant in Helsinki: one hour ahead
    for i in range(12):
        upload = T0 + i * FIVE_MIN
        now = upload + timedelta(minutes=2)
        result = _instant(clock, _wall(upload, HELSINKI), now=now)
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
        result = _instant(clock, naive, now=now)
        assert clock.offset == timedelta(0)
        assert result == (now if i == 8 else upload)


def test_clock_short_burst_of_outliers_ignored() -> None:
    clock = UploadClock(BERLIN)
    for i in range(20):
        upload = T0 + i * FIVE_MIN
        naive = _wall(upload, BERLIN)
        if 5 <= i < 5 + OFFSET_CONFIRM_RECORDS - 1:
            naive += timedelta(hours=2)
        _instant(clock, naive, now=upload + timedelta(minutes=1))
        assert clock.offset == timedelta(0)


def test_clock_learns_west_offset_while_new_records_arrive() -> None:
    clock = UploadClock(BERLIN)  # plant in New York: six hours behind
    for i in range(10):
        upload = T0 + i * FIVE_MIN
        now = upload + timedelta(minutes=4)
        result = _instant(clock, _wall(upload, NEW_YORK), now=now)
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
        assert _instant(clock, last, now=now) == expected
    assert clock.offset == timedelta(0)


def test_clock_first_record_teaches_nothing() -> None:
    clock = UploadClock(BERLIN)
    # Hours old on start-up, then a fresh one: only the fresh one is evidence.
    _instant(clock, datetime(2024, 6, 15, 6, 0), now=T0)
    _instant(clock, datetime(2024, 6, 15, 12, 0), now=T0 + timedelta(minutes=2))
    assert clock.offset == timedelta(0)


def test_clock_ordinary_latency_never_triggers() -> None:
    clock = UploadClock(BERLIN)
    lags = [0, 6, 3, 5, 1, 6, 6, 6, 0, 0, 2, 4, 6, 6, 6, 6, 6, 0, 5, 5]
    for round_ in range(5):
        for i, lag in enumerate(lags):
            upload = T0 + (round_ * len(lags) + i) * FIVE_MIN
            now = upload + timedelta(minutes=lag)
            assert _instant(clock, _wall(upload, BERLIN), now=now) == upload
            assert clock.offset == timedelta(0)


def test_clock_slow_polling_and_fast_clock_never_trigger() -> None:
    clock = UploadClock(BERLIN)
    for i in range(40):
        upload = T0 + 2 * i * FIVE_MIN  # every other upload seen (10-minute polls)
        now = upload + timedelta(minutes=9)
        naive = _wall(upload + timedelta(minutes=1), BERLIN)  # inverter 1 min fast
        _instant(clock, naive, now=now)
        assert clock.offset == timedelta(0)


def test_clock_gap_without_evidence() -> None:
    clock = UploadClock(BERLIN)
    now = T0
    _instant(clock, _wall(now, HELSINKI), now=now)
    # Same poll instant again, and then a pause longer than an hour: no evidence.
    _instant(clock, _wall(now + FIVE_MIN, HELSINKI), now=now)
    for i in range(1, 8):
        now += timedelta(hours=2)
        _instant(clock, _wall(now - FIVE_MIN * i, HELSINKI), now=now)
    assert clock.offset == timedelta(0)


@pytest.mark.parametrize(
    "wall",
    [
        datetime(9999, 12, 31, 23, 59, 59),
        datetime(2026, 8, 1),  # 400 days ahead
        datetime(1970, 1, 1),
        datetime(1, 1, 1),
        datetime(2024, 6, 15, 11, 0, tzinfo=UTC),  # an instant, an hour ahead
    ],
)
def test_a_time_that_cannot_be_true_is_refused(wall: datetime) -> None:
    """Before any upload of the cloud, or ahead of every zone's present."""
    clock = UploadClock(NEW_YORK)
    for i in range(10):
        with pytest.raises(ImplausibleTimeError, match="cannot be true"):
            clock.read(wall, now=T0 + i * FIVE_MIN)
    assert clock.offset == timedelta(0)
    # The next true record is read as usual.
    assert _instant(clock, _wall(T0, NEW_YORK), now=T0 + FIVE_MIN) == T0


def test_the_most_eastern_zone_is_still_possible() -> None:
    clock = UploadClock(BERLIN)
    kiribati = ZoneInfo("Pacific/Kiritimati")  # UTC+14
    assert _instant(clock, _wall(T0, kiribati), now=T0 + FIVE_MIN) == T0 + FIVE_MIN


def test_a_hint_that_can_be_true_wins_from_the_first_new_record() -> None:
    """utcDateTime counts once a new record shows it could be true."""
    reported: list[str] = []
    clock = UploadClock(BERLIN, lambda kind, _message: reported.append(kind))
    # The first record: nothing shows yet that the hint is right; the wall time is
    # read in Home Assistant's zone (the plant keeps Helsinki's: in the future).
    first_now = T0 + timedelta(minutes=3)
    assert _instant(clock, _wall(T0, HELSINKI), now=first_now, hint=T0) == first_now
    assert clock.offset == timedelta(0)
    # A new record that was not there at the previous poll: the hint can be true.
    upload = T0 + FIVE_MIN
    now = upload + timedelta(minutes=3)
    assert _instant(clock, _wall(upload, HELSINKI), now=now, hint=upload) == upload
    assert clock.offset == timedelta(hours=1)
    # Without the hint on the next record the learned offset applies.
    upload += FIVE_MIN
    assert _instant(clock, _wall(upload, HELSINKI), now=upload + FIVE_MIN) == upload
    assert reported == []


def test_a_hint_hours_off_is_ignored() -> None:
    """utcDateTime 8 hours off while uploadTime is right (seen in the field)."""
    reported: list[str] = []
    clock = UploadClock(BERLIN, lambda kind, _message: reported.append(kind))
    for i in range(6):
        upload = T0 + i * FIVE_MIN
        now = upload + timedelta(seconds=20)
        hint = upload - timedelta(hours=8)
        assert _instant(clock, _wall(upload, BERLIN), now=now, hint=hint) == upload
        # Polled again: still the same record, still not hours old.
        assert (
            _instant(clock, _wall(upload, BERLIN), now=now + FIVE_MIN / 2, hint=hint)
            == upload
        )
    assert clock.offset == timedelta(0)
    assert set(reported) == {"hint"}


def test_a_hint_in_the_future_is_ignored() -> None:
    reported: list[str] = []
    clock = UploadClock(BERLIN, lambda kind, _message: reported.append(kind))
    hint = T0 + timedelta(hours=3)
    assert _instant(clock, _wall(T0, BERLIN), now=T0 + FIVE_MIN, hint=hint) == T0
    assert reported == ["hint"]


def test_clock_naive_utc_hint_is_utc_and_clamped() -> None:
    clock = UploadClock(BERLIN)
    clock.read(_wall(T0 - FIVE_MIN, NEW_YORK), now=T0 - FIVE_MIN)
    hint = datetime(2024, 6, 15, 10, 0)
    naive = _wall(T0, NEW_YORK)
    assert _instant(clock, naive, now=T0 + FIVE_MIN, hint=hint) == T0
    assert clock.offset == timedelta(hours=-6)
    assert _instant(clock, naive, now=T0 - FIVE_MIN, hint=hint) == T0 - FIVE_MIN


def test_clock_never_in_future() -> None:
    clock = UploadClock(BERLIN)
    now = T0
    result = _instant(clock, datetime(2024, 6, 15, 13, 0), now=now)
    assert result == now


def test_clock_restore_offset() -> None:
    clock = UploadClock(BERLIN)
    clock.restore(timedelta(hours=1, minutes=1))
    assert clock.offset == timedelta(hours=1)
    assert _instant(clock, _wall(T0, HELSINKI), now=T0 + FIVE_MIN) == T0
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
        result = _instant(clock, _wall(upload, NEW_YORK), now=now)
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
        assert _instant(clock, _wall(upload, BERLIN), now=now) == upload
        assert clock.offset == timedelta(0)


def test_clock_hint_in_repeated_hour() -> None:
    clock = UploadClock(BERLIN)
    upload = datetime(2024, 10, 27, 1, 30, tzinfo=UTC)  # 02:30 CET, second time
    clock.read(_wall(upload - FIVE_MIN, BERLIN), now=upload - FIVE_MIN / 2)
    naive = _wall(upload, BERLIN)
    assert _instant(clock, naive, now=upload + FIVE_MIN, hint=upload) == upload
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


def test_the_upload_knows_its_plant_day_and_its_unclamped_instant() -> None:
    """A record from a clock running ahead: shown now, learnt from as it says."""
    clock = UploadClock(BERLIN)
    now = datetime(2024, 6, 15, 21, 59, 30, tzinfo=UTC)  # 23:59:30 in Berlin
    upload = clock.read(datetime(2024, 6, 16, 0, 0, 10), now=now)
    assert upload.instant == now
    assert upload.timestamp == now.timestamp() + 40
    assert upload.plant_day == date(2024, 6, 16)


def test_the_plant_s_today_and_next_midnight_follow_the_learnt_offset() -> None:
    clock = UploadClock(BERLIN)
    now = datetime(2024, 6, 15, 21, 30, tzinfo=UTC)  # 23:30 in Berlin
    assert clock.plant_today(now) == date(2024, 6, 15)
    assert clock.next_plant_midnight(now) == now + timedelta(minutes=30)
    clock.restore(timedelta(hours=1))  # the plant keeps Helsinki's time
    assert clock.plant_today(now) == date(2024, 6, 16)
    assert clock.next_plant_midnight(now) == now + timedelta(hours=23, minutes=30)
