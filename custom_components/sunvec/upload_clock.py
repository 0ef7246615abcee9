"""The upload clock: where a reply's time becomes the instant every consumer uses.

``uploadTime`` is the plant's wall-clock time without a zone, normally the plant's
own, which may not be Home Assistant's; some replies carry an undocumented
``utcDateTime`` as a hint (see ``sunvec-connect-api.md``, part 2). `UploadClock`
turns them, once per reply, into an `UploadTime`: the aware instant of the upload
(never in the future), the same instant unclamped for the polling policy, and the
plant's date of the upload. It learns the plant's offset from Home Assistant's zone
(the only learner of it) and answers what the plant's date is now. `is_stale` and
`stale_after` say when an upload is too old for live values.

Pure logic: no Home Assistant imports, no I/O and no clock reads (the caller passes
``now``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
import math
from typing import Final

# --- Upload clock ------------------------------------------------------------------

OFFSET_QUANTUM: Final = timedelta(minutes=15)
"""Zone offsets are whole quarter-hours, so a learned offset is too."""

OFFSET_CONFIRM_RECORDS: Final = 4
"""Consecutive new records that must agree before the offset changes.

One record with a strange time (an inverter clock resync, a cloud hiccup) must not
move every timestamp; four records (about 20 minutes at the usual cadence) that all
need the same offset do.
"""

UPLOAD_LATENCY_MAX: Final = timedelta(minutes=10)
"""Longest time from an upload to the record being visible in the API.

Ordinary latency is 0-6 minutes; the margin keeps a slow cloud from looking like a
zone west of Home Assistant's.
"""

CLOCK_SKEW_MAX: Final = timedelta(minutes=2)
"""How far the inverter's own clock may be off without being a zone offset."""

OFFSET_EVIDENCE_MAX_POLL_GAP: Final = timedelta(hours=1)
"""A new record seen after a longer pause says too little about when it was sent."""

MAX_ZONE_OFFSET: Final = timedelta(hours=26)
"""Widest difference between two zones (UTC-12 to UTC+14); beyond it is no zone."""

MAX_AHEAD_OF_UTC: Final = timedelta(hours=14)
"""No zone's clock is further ahead of UTC: a later wall time cannot be the present."""

EARLIEST_UPLOAD: Final = datetime(2001, 1, 1)  # noqa: DTZ001 - a wall time
"""No upload of this cloud is older: an earlier time is an inverter clock that lost
its time (they fall back to 2000 or 1970)."""


ZERO: Final = timedelta(0)


class ImplausibleTimeError(ValueError):
    """A time that cannot be true; its message says why."""


# --- Staleness ---------------------------------------------------------------------

STALE_UPLOAD_PERIODS: Final = 3
"""Upload periods without a new record before live values become unavailable.

One late or missed upload is ordinary; three in a row mean the inverter (or its
Wi-Fi module) has stopped uploading, typically asleep at night, and its last power
readings no longer describe the present.
"""

STALE_MIN_AGE: Final = timedelta(minutes=15)
"""Never call a record stale sooner than this, whatever the cadence."""


@dataclass(frozen=True, slots=True)
class UploadTime:
    """When one record was uploaded, as every consumer of it uses it."""

    instant: datetime
    """The upload instant, aware (UTC), never later than the poll that first saw it."""
    timestamp: float
    """The same instant as UNIX seconds, before that clamp (for the polling policy,
    which learns when records appear relative to it)."""
    plant_day: date
    """The plant's date of the upload: the day its ``yieldtoday`` belongs to."""


class UploadClock:
    """Turn the zone-less ``uploadTime`` into an aware instant.

    By default the wall time is read in Home Assistant's zone. When new records show
    that the plant's clock runs a whole number of quarter-hours ahead (east) or
    behind (west) of that zone, the clock learns that `offset`.

    How it learns: a record that differs from the one seen at the previous call was
    uploaded between that call and this one, allowing `UPLOAD_LATENCY_MAX` for the
    cloud and `CLOCK_SKEW_MAX` for the inverter's clock. Each such record gives the
    quarter-hours the offset can be; consecutive records narrow that set down by
    intersection, and an empty intersection (an outlier, or the plant's clock
    changing, e.g. for DST) starts over. After `OFFSET_CONFIRM_RECORDS` consistent
    records the current offset stays if it is still possible, otherwise the
    smallest possible one (the one needing the least latency) is taken. A repeated
    record (inverter asleep) teaches nothing, so old data is never mistaken for a
    zone west of Home Assistant's.

    Call `read` once per successful fetch (also when the record did not change):
    the time between calls is part of the evidence.
    """

    def __init__(
        self,
        default_zone: tzinfo,
        report: Callable[[str, str], None] = lambda _kind, _message: None,
    ) -> None:
        """Create a clock that reads wall times in ``default_zone`` until it learns.

        Args:
            default_zone: Home Assistant's time zone.
            report: Told what the clock ignores, as a kind and a sentence (the
                caller logs each kind once).
        """
        self._zone = default_zone
        self._report = report
        # Whether the hint of the record seen last could be true.
        self._hint_ok = False
        self._offset_q = 0
        self._last_naive: datetime | None = None
        self._last_now: datetime | None = None
        self._last_upload: UploadTime | None = None
        self._candidates: frozenset[int] = frozenset()
        self._streak = 0

    @property
    def offset(self) -> timedelta:
        """How far the plant's wall clock runs ahead of the default zone's."""
        return self._offset_q * OFFSET_QUANTUM

    def restore(self, offset: timedelta) -> None:
        """Seed a learned offset, e.g. stored before a restart.

        Args:
            offset: A previous `offset`; rounded to whole quarter-hours, ignored
                beyond `MAX_ZONE_OFFSET`.
        """
        quarters = round(offset / OFFSET_QUANTUM)
        if abs(quarters * OFFSET_QUANTUM) <= MAX_ZONE_OFFSET:
            self._offset_q = quarters
            self._candidates = frozenset()
            self._streak = 0

    def plant_wall(self, now: datetime) -> datetime:
        """Return the plant's naive wall-clock time at ``now``.

        Args:
            now: The current time, aware.

        Returns:
            Home Assistant's wall time at ``now`` plus the learned `offset`.
        """
        return now.astimezone(self._zone).replace(tzinfo=None) + self.offset

    def plant_today(self, now: datetime) -> date:
        """Return the plant's date at ``now`` (aware)."""
        return self.plant_wall(now).date()

    def next_plant_midnight(self, now: datetime) -> datetime:
        """Return the instant (aware) of the plant's next midnight after ``now``."""
        plant_now = self.plant_wall(now)
        midnight = datetime.combine(plant_now.date() + timedelta(days=1), time())
        return now + (midnight - plant_now)

    def read(
        self, wall: datetime, *, now: datetime, hint: datetime | None = None
    ) -> UploadTime:
        """Return when a reply's record was uploaded, and learn from it.

        Args:
            wall: The record's ``uploadTime``: the plant's wall time, naive (an
                aware value is taken as the instant it names).
            now: The time of this fetch, aware.
            hint: The undocumented ``utcDateTime`` field, if the reply has it (a
                naive hint is read as UTC). It is used only where it can be true
                (`_checked_hint`); then it wins and sets the offset.

        Returns:
            The upload, its instant clamped to ``now``, and for a record seen
            again to the instant it was given when first seen.

        Raises:
            ImplausibleTimeError: The time cannot be true: before any upload of
                this cloud, or later than any zone's present.
            ValueError: If ``now`` is naive.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        now = now.astimezone(UTC)
        # A wall time may be as far ahead as the most eastern zone; an instant only
        # as far as a clock's skew.
        ahead = CLOCK_SKEW_MAX + (MAX_AHEAD_OF_UTC if wall.tzinfo is None else ZERO)
        try:
            naive = wall.astimezone(UTC).replace(tzinfo=None) if wall.tzinfo else wall
            possible = EARLIEST_UPLOAD <= naive <= now.replace(tzinfo=None) + ahead
        except OverflowError:
            possible = False
        if not possible:
            raise ImplausibleTimeError(
                f"the upload time {wall} cannot be true at {now:%Y-%m-%d %H:%M} UTC"
            )
        if wall.tzinfo is not None:
            instant = wall.astimezone(UTC)
            plant_day = self.plant_wall(instant).date()
        else:
            walls = self._walls(wall)
            if (checked := self._checked_hint(wall, hint, now)) is not None:
                instant = self._from_hint(walls, checked)
            else:
                self._learn(wall, walls, now)
                instant = self._resolve(walls, now)
            plant_day = wall.date()
        shown = min(instant, now)
        previous = self._last_upload
        if previous is not None and wall == self._last_naive:
            # The record seen again: uploaded before the poll that first saw it,
            # not at each poll (a time ahead of ours would be clamped anew), even
            # when the offset learnt since reads it later.
            shown = min(shown, previous.instant)
        self._last_naive = wall
        self._last_now = now
        self._last_upload = UploadTime(
            instant=shown, timestamp=instant.timestamp(), plant_day=plant_day
        )
        return self._last_upload

    def _checked_hint(
        self, wall: datetime, hint: datetime | None, now: datetime
    ) -> datetime | None:
        """Return the hint if it can be true, else None (reported once per record).

        It cannot be true if it lies in the future, or if a record that was not
        there at the previous poll would be older than that poll allows (the field
        has been seen hours off, see ``sunvec-connect-api.md``). Without such
        evidence (the first record, a long pause) it is not used either: nothing
        may depend on it being right.
        """
        if hint is None:
            return None
        hint = (
            hint if hint.tzinfo is not None else hint.replace(tzinfo=UTC)
        ).astimezone(UTC)
        if wall == self._last_naive:
            return hint if self._hint_ok else None
        self._hint_ok = False
        if hint > now + CLOCK_SKEW_MAX:
            self._report("hint", f"utcDateTime {hint} lies in the future; ignored")
        elif self._has_evidence(now):
            assert self._last_now is not None
            if hint >= self._last_now - UPLOAD_LATENCY_MAX - CLOCK_SKEW_MAX:
                self._hint_ok = True
            else:
                self._report(
                    "hint",
                    f"utcDateTime {hint} is older than the previous poll allows for a "
                    "new record; ignored, the upload time is read from uploadTime",
                )
        return hint if self._hint_ok else None

    def _has_evidence(self, now: datetime) -> bool:
        """Return whether a new record now says when it was uploaded (see `_learn`)."""
        if self._last_naive is None or self._last_now is None:
            return False
        gap = now - self._last_now
        return timedelta(0) < gap <= OFFSET_EVIDENCE_MAX_POLL_GAP

    def _walls(self, naive: datetime) -> tuple[datetime, ...]:
        """Return the instants a wall time can be in the default zone (1 or 2)."""
        first = naive.replace(tzinfo=self._zone, fold=0).astimezone(UTC)
        second = naive.replace(tzinfo=self._zone, fold=1).astimezone(UTC)
        return (first,) if first == second else (first, second)

    def _resolve(self, walls: tuple[datetime, ...], now: datetime) -> datetime:
        """Apply the offset; of two readings prefer the latest one not in the future."""
        candidates = [wall - self.offset for wall in walls]
        past = [candidate for candidate in candidates if candidate <= now]
        return max(past) if past else min(candidates)

    def _from_hint(self, walls: tuple[datetime, ...], instant: datetime) -> datetime:
        """Take the instant from ``utcDateTime`` (aware, UTC) and the offset from it."""
        quarters = min(
            (round((wall - instant) / OFFSET_QUANTUM) for wall in walls),
            key=lambda q: abs(q - self._offset_q),
        )
        self.restore(quarters * OFFSET_QUANTUM)
        return instant

    def _learn(
        self, naive: datetime, walls: tuple[datetime, ...], now: datetime
    ) -> None:
        """Narrow the possible offsets with a new record and adopt a confirmed one."""
        if naive == self._last_naive or not self._has_evidence(now):
            return
        assert self._last_now is not None
        earliest_upload = self._last_now - UPLOAD_LATENCY_MAX - CLOCK_SKEW_MAX
        latest_upload = now + CLOCK_SKEW_MAX
        limit = MAX_ZONE_OFFSET / OFFSET_QUANTUM
        possible = frozenset(
            quarter
            for wall in walls
            for quarter in range(
                math.ceil((wall - latest_upload) / OFFSET_QUANTUM),
                math.floor((wall - earliest_upload) / OFFSET_QUANTUM) + 1,
            )
            if abs(quarter) <= limit
        )
        if not possible:
            return
        narrowed = self._candidates & possible
        if narrowed:
            self._candidates = narrowed
            self._streak += 1
        else:
            self._candidates = possible
            self._streak = 1
        if (
            self._streak >= OFFSET_CONFIRM_RECORDS
            and self._offset_q not in self._candidates
        ):
            self._offset_q = min(self._candidates)


def stale_after(cadence_s: float, periods: int = STALE_UPLOAD_PERIODS) -> timedelta:
    """Return the age at which an upload is stale.

    Args:
        cadence_s: The upload period in seconds (about 300).
        periods: Upload periods to allow; see `STALE_UPLOAD_PERIODS`.

    Returns:
        ``periods`` upload periods, at least `STALE_MIN_AGE`.
    """
    return max(timedelta(seconds=max(cadence_s, 0.0) * periods), STALE_MIN_AGE)


def is_stale(
    upload_time: datetime,
    now: datetime,
    cadence_s: float,
    periods: int = STALE_UPLOAD_PERIODS,
) -> bool:
    """Return whether live values from this upload must be unavailable.

    Args:
        upload_time: The latest record's upload instant (aware, from `UploadClock`).
        now: The current time (aware).
        cadence_s: The upload period in seconds.
        periods: Upload periods to allow; see `STALE_UPLOAD_PERIODS`.

    Returns:
        True when the upload is older than `stale_after`.
    """
    return now - upload_time > stale_after(cadence_s, periods)
