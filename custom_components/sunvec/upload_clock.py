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
    """The upload instant, aware (UTC), never later than the poll that saw it."""
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

    def __init__(self, default_zone: tzinfo) -> None:
        """Create a clock that reads wall times in ``default_zone`` until it learns.

        Args:
            default_zone: Home Assistant's time zone.
        """
        self._zone = default_zone
        self._offset_q = 0
        self._last_naive: datetime | None = None
        self._last_now: datetime | None = None
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
            hint: The undocumented ``utcDateTime`` field, if the reply has it;
                it wins (a naive hint is read as UTC) and sets the offset.

        Returns:
            The upload, its instant clamped to ``now``.

        Raises:
            ValueError: If ``now`` is naive.
        """
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        now = now.astimezone(UTC)
        if wall.tzinfo is not None:
            instant = wall.astimezone(UTC)
            plant_day = self.plant_wall(instant).date()
        else:
            walls = self._walls(wall)
            if hint is not None:
                instant = self._from_hint(walls, hint)
            else:
                self._learn(wall, walls, now)
                instant = self._resolve(walls, now)
            plant_day = wall.date()
        self._last_naive = wall
        self._last_now = now
        return UploadTime(
            instant=min(instant, now),
            timestamp=instant.timestamp(),
            plant_day=plant_day,
        )

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

    def _from_hint(self, walls: tuple[datetime, ...], utc_hint: datetime) -> datetime:
        """Take the instant from ``utcDateTime`` and the offset from it."""
        if utc_hint.tzinfo is None:
            utc_hint = utc_hint.replace(tzinfo=UTC)
        instant = utc_hint.astimezone(UTC)
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
        if self._last_naive is None or self._last_now is None:
            return
        if naive == self._last_naive:
            return
        gap = now - self._last_now
        if gap <= timedelta(0) or gap > OFFSET_EVIDENCE_MAX_POLL_GAP:
            return
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
