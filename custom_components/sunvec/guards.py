"""Value guards: the energy counters of the Sunvec Connect cloud, made safe to show.

Pure logic: no Home Assistant imports, no I/O and no clock reads (the caller passes
every time in, from the upload clock). The cloud's known faults (see
``sunvec-connect-api.md``, part 2):

* lifetime counters reported as 0, ``null`` or slightly lower for one sample, which
  Home Assistant's statistics would read as a meter reset and count a lifetime's
  energy again;
* ``yieldtoday`` carrying yesterday's total after the plant's midnight.

`LifetimeCounterGuard` guards the ``total_increasing`` lifetime kWh counters,
`DayTotalGuard` guards ``yieldtoday``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from enum import StrEnum
import math
from typing import Final, TypeGuard

# --- Lifetime counters -------------------------------------------------------------

COUNTER_RESET_MIN_UPLOADS: Final = 6
"""Distinct consecutive uploads that must agree before a lower counter is believed.

Glitches seen in the field last one sample, sometimes a few. Six distinct uploads
(half an hour at the usual cadence) is several times longer than any of them, while
`COUNTER_RESET_MIN_SPAN` stops a burst of buffered uploads, or a few sparse uploads,
from confirming a replacement on their own.
"""

COUNTER_RESET_MIN_SPAN: Final = timedelta(hours=1)
"""Upload time the lower values must span before they are a new baseline.

A real meter or inverter replacement stays lower for ever, so waiting an hour costs
nothing but a short delay in the new counter's first hour, while accepting a glitch
would put a lifetime's energy into one hour of the energy dashboard.
"""

# --- Day total ---------------------------------------------------------------------

DAY_CARRYOVER_MAX: Final = timedelta(hours=6)
"""Longest time a new plant day may read 0 because it still carries yesterday's total.

Yesterday's ``yieldtoday`` reappears after midnight for a sample or a few, until the
inverter resets its day counter. The only way to leave that state without this limit
is a value lower than yesterday's final; a day whose first uploads are already higher
than a very small yesterday (a snowy day, a cloud outage all morning) would otherwise
read 0 until the next midnight. Six hours covers any reset lag seen in the field,
also for inverters that upload through the night. For the same time after the
day's first record, yesterday's exact final reappearing after a reset is held.
"""


class GuardStatus(StrEnum):
    """Why a guard showed what it showed, so the caller can log a change once."""

    ACCEPTED = "accepted"
    """The reported value is shown."""
    MISSING = "missing"
    """The value was ``None``; the last good value is kept."""
    INVALID = "invalid"
    """The value was 0 (lifetime counters only), negative or not finite; kept."""
    LOWER = "lower"
    """The value was lower than the last good one; the last good value is kept."""
    DUPLICATE = "duplicate"
    """The same upload was seen before; nothing changes."""
    REPLACED = "replaced"
    """A lower lifetime counter was confirmed long enough: it is the new baseline."""
    NEW_DAY = "new_day"
    """The day total started a new plant day."""
    CARRYOVER = "carryover"
    """The new plant day still carries yesterday's total, which is not shown."""
    OUT_OF_ORDER = "out_of_order"
    """The record belongs to an earlier plant day than the one shown; ignored."""


def _usable(value: float | None) -> TypeGuard[float]:
    """Return whether a number is finite and not negative."""
    return value is not None and math.isfinite(value) and value >= 0


class LifetimeCounterGuard:
    """Make a lifetime kWh counter safe for a ``total_increasing`` sensor.

    A lower value, 0 or ``None`` keeps the last good value, unless the lower values
    are confirmed for long enough to be a real meter or inverter replacement:
    at least `COUNTER_RESET_MIN_UPLOADS` consecutive distinct uploads spanning at
    least `COUNTER_RESET_MIN_SPAN`, all below the last good value and never
    decreasing among themselves. 0 never counts towards a replacement (a counter of
    exactly 0 is the classic glitch, and accepting it would let the old total come
    back as a spike). ``None`` and 0 neither count nor break the confirmation; a
    value at or above the last good one ends it. A value above the last good one is
    always taken: this guard does not judge upward jumps.
    """

    def __init__(
        self,
        *,
        confirm_uploads: int = COUNTER_RESET_MIN_UPLOADS,
        confirm_span: timedelta = COUNTER_RESET_MIN_SPAN,
    ) -> None:
        """Create a guard without a known value.

        Args:
            confirm_uploads: Distinct uploads needed to accept a lower baseline.
            confirm_span: Upload time those uploads must span.
        """
        self._confirm_uploads = confirm_uploads
        self._confirm_span = confirm_span
        self._last_good: float | None = None
        self._last_upload: datetime | None = None
        self._status: GuardStatus | None = None
        self._run_start: datetime | None = None
        self._run_count = 0
        self._run_last = 0.0

    @property
    def last_good(self) -> float | None:
        """The value shown: the last accepted counter value, if any."""
        return self._last_good

    @property
    def status(self) -> GuardStatus | None:
        """Why the last `update` returned what it did (``None`` before any)."""
        return self._status

    def restore(self, value: float | None) -> None:
        """Seed the last good value, e.g. the sensor's state before a restart.

        Args:
            value: The value shown before; ignored unless finite and above 0.
        """
        if _usable(value) and value > 0:
            self._last_good = value
            self._clear_run()

    def update(self, value: float | None, upload_time: datetime) -> float | None:
        """Take one record and return the value to show.

        Args:
            value: The counter as reported (kWh), or ``None``.
            upload_time: The record's upload instant (aware, from the upload clock);
                it identifies the upload, so the same record polled twice counts once.

        Returns:
            The last good value (``None`` until one is known).
        """
        if upload_time == self._last_upload:
            self._status = GuardStatus.DUPLICATE
            return self._last_good
        self._last_upload = upload_time
        if value is None:
            self._status = GuardStatus.MISSING
        elif not _usable(value) or not value:
            self._status = GuardStatus.INVALID
        elif self._last_good is None or value >= self._last_good:
            self._last_good = value
            self._clear_run()
            self._status = GuardStatus.ACCEPTED
        else:
            self._status = self._lower(value, upload_time)
        return self._last_good

    def _lower(self, value: float, upload_time: datetime) -> GuardStatus:
        """Count a value below the last good one towards a replacement."""
        if self._run_start is None or value < self._run_last:
            self._run_start = upload_time
            self._run_count = 0
        self._run_count += 1
        self._run_last = value
        if (
            self._run_count >= self._confirm_uploads
            and upload_time - self._run_start >= self._confirm_span
        ):
            self._last_good = value
            self._clear_run()
            return GuardStatus.REPLACED
        return GuardStatus.LOWER

    def _clear_run(self) -> None:
        """Forget the lower values collected so far."""
        self._run_start = None
        self._run_count = 0
        self._run_last = 0.0


class DayTotalGuard:
    """Make ``yieldtoday`` safe: it goes down only when the plant's day changes.

    Within one plant day (the plant's date of the upload, as the upload clock gives it) the value
    never goes down: a lower glitch keeps the day's maximum. On the first record of
    a new day, a value at or above yesterday's final (when that was above 0) is
    yesterday's total carried over: the day reads 0 until the inverter reports a
    value lower than yesterday's final, or `DAY_CARRYOVER_MAX` has passed. Within
    that time after the day's first record, yesterday's exact final reappearing
    after the reset is not taken either (today's maximum is kept). When the plant's
    date has moved past the last record's (inverter asleep over midnight),
    `value_for` reads 0.

    Persist `as_dict` to restore; the
    displayed value alone is not enough, because it reads 0 after midnight.
    """

    def __init__(self, *, carryover_max: timedelta = DAY_CARRYOVER_MAX) -> None:
        """Create a guard without a known day.

        Args:
            carryover_max: Longest time a new day may read 0 for carrying
                yesterday's total.
        """
        self._carryover_max = carryover_max
        self._day: date | None = None
        self._max = 0.0
        self._yesterday_final = 0.0
        self._carry = False
        self._day_start: datetime | None = None
        self._status: GuardStatus | None = None

    @property
    def status(self) -> GuardStatus | None:
        """Why the last `update` returned what it did (``None`` before any)."""
        return self._status

    def restore(
        self, value: float | None, day: date, *, yesterday_final: float | None = None
    ) -> None:
        """Seed the state after a restart.

        Args:
            value: The day's maximum before the restart; ignored with everything
                else unless finite and not negative.
            day: The plant day of the latest record before the restart.
            yesterday_final: The final value of the day before it, if stored. With it,
                a restored 0 goes on waiting for the carried-over total to go away.
        """
        if not _usable(value):
            return
        self._day = day
        self._max = value
        self._yesterday_final = yesterday_final if _usable(yesterday_final) else 0.0
        self._carry = self._yesterday_final > 0 and value == 0
        self._day_start = None

    def as_dict(self) -> dict[str, str | float | None]:
        """Return the state to store (JSON-safe), for `from_dict`."""
        return {
            "day": self._day.isoformat() if self._day else None,
            "day_max": self._max,
            "yesterday_final": self._yesterday_final,
        }

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, object],
        *,
        carryover_max: timedelta = DAY_CARRYOVER_MAX,
    ) -> DayTotalGuard:
        """Build a guard from `as_dict` output; bad or missing data starts fresh.

        Args:
            data: What `as_dict` returned before.
            carryover_max: As for the constructor.

        Returns:
            The restored guard.
        """
        guard = cls(carryover_max=carryover_max)
        day = data.get("day")
        value = data.get("day_max")
        yesterday = data.get("yesterday_final")
        try:
            restored_day = date.fromisoformat(day) if isinstance(day, str) else None
        except ValueError:
            restored_day = None
        if restored_day is not None and isinstance(value, int | float):
            guard.restore(
                float(value),
                restored_day,
                yesterday_final=(
                    float(yesterday) if isinstance(yesterday, int | float) else None
                ),
            )
        return guard

    def value_for(self, plant_today: date) -> float | None:
        """Return what to show now.

        Args:
            plant_today: Today's date in the plant's zone.

        Returns:
            0 once the plant's date has moved past the last record's or while the
            day carries yesterday's total, else the day's maximum; ``None`` before
            any value is known.
        """
        if self._day is None:
            return None
        if plant_today > self._day or self._carry:
            return 0.0
        return self._max

    def update(
        self, value: float | None, upload_time: datetime, record_day: date
    ) -> float | None:
        """Take one record and return the value to show for its day.

        Args:
            value: ``yieldtoday`` as reported (kWh), or ``None``.
            upload_time: The record's upload instant (aware, from the upload clock).
            record_day: The plant's date of that upload.

        Returns:
            `value_for` the record's day.
        """
        if value is None:
            self._status = GuardStatus.MISSING
        elif not _usable(value):
            self._status = GuardStatus.INVALID
        elif self._day is None:
            self._day = record_day
            self._day_start = upload_time
            self._max = value
            self._status = GuardStatus.ACCEPTED
        elif record_day < self._day:
            self._status = GuardStatus.OUT_OF_ORDER
        elif record_day > self._day:
            self._status = self._new_day(value, record_day, upload_time)
        elif self._carry:
            self._status = self._carried(value, upload_time)
        elif value < self._max:
            self._status = GuardStatus.LOWER
        elif value > self._max and self._reappeared(value, upload_time):
            self._status = GuardStatus.CARRYOVER
        else:
            self._max = value
            self._status = GuardStatus.ACCEPTED
        return self.value_for(record_day)

    def _new_day(self, value: float, day: date, upload_time: datetime) -> GuardStatus:
        """Start a new plant day, detecting yesterday's total carried over."""
        self._yesterday_final = self._max
        self._day = day
        self._day_start = upload_time
        if 0 < self._yesterday_final <= value:
            self._carry = True
            self._max = 0.0
            return GuardStatus.CARRYOVER
        self._carry = False
        self._max = value
        return GuardStatus.NEW_DAY

    def _carried(self, value: float, upload_time: datetime) -> GuardStatus:
        """Take a value while the day still carries yesterday's total."""
        if value < self._yesterday_final or not self._early(upload_time):
            self._carry = False
            self._max = value
            return GuardStatus.NEW_DAY
        return GuardStatus.CARRYOVER

    def _reappeared(self, value: float, upload_time: datetime) -> bool:
        """Return whether a rise is yesterday's exact final showing up again."""
        return value == self._yesterday_final > 0 and self._early(upload_time)

    def _early(self, upload_time: datetime) -> bool:
        """Return whether the day began less than the carry-over limit ago."""
        if self._day_start is None:  # restored: count from this record on
            self._day_start = upload_time
        return upload_time - self._day_start < self._carryover_max
