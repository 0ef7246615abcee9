"""Value guards: the energy counters of the Sunvec Connect cloud, made safe to show.

Pure logic: no Home Assistant imports, no I/O and no clock reads (the caller passes
every time in, from the upload clock). The cloud's known faults (see
``sunvec-connect-api.md``, part 2):

* lifetime counters reported as 0, ``null`` or slightly lower for one sample, which
  Home Assistant's statistics would read as a meter reset and count a lifetime's
  energy again;
* ``yieldtoday`` carrying yesterday's total after the plant's midnight.

`LifetimeCounterGuard` guards the ``total_increasing`` lifetime kWh counters,
`DayTotalGuard` guards ``yieldtoday``, and `plausible_record` drops every reading of
a record that no inverter of this kind can produce (`MAX_POWER_W`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from enum import StrEnum
import math
from typing import Any, Final, TypeGuard

from .models import RealtimeData

# --- What an inverter can do --------------------------------------------------------

MAX_POWER_W: Final = 100_000.0
"""A power no inverter of this kind reaches (W).

The largest models on such clouds are three-phase inverters of a few tens of kW; a
reading beyond this (a glitch, a unit error, ``1e308``) cannot be true and is a
missing value: it is neither shown nor integrated.
"""

MAX_LIFETIME_KWH: Final = MAX_POWER_W / 1000 * 24 * 365.25 * 40
"""More energy than such an inverter can count in forty years at full power."""

MAX_DAY_KWH: Final = MAX_POWER_W / 1000 * 24
"""More energy than such an inverter can count in one day at full power."""

COUNTER_STEP_MARGIN_KWH: Final = 1.0
"""What a counter may rise beyond full power over the time between two uploads.

Counters have 0.01-0.1 kWh resolution and the upload times one-second resolution.
"""


def max_energy_kwh(elapsed: timedelta) -> float:
    """Return the most a counter can rise over ``elapsed`` (kWh)."""
    hours = max(elapsed.total_seconds(), 0.0) / 3600
    return MAX_POWER_W / 1000 * hours + COUNTER_STEP_MARGIN_KWH


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
    """The value was 0 (lifetime counters only), negative, not finite or beyond
    what any inverter can count; the last good value is kept."""
    LOWER = "lower"
    """The value was lower than the last good one; the last good value is kept."""
    IMPLAUSIBLE = "implausible"
    """The value rose faster than any inverter can produce; the last good value is
    kept."""
    DUPLICATE = "duplicate"
    """The same upload was seen before; nothing changes."""
    REPLACED = "replaced"
    """A lower (or implausibly higher) lifetime counter was confirmed long enough:
    it is the new baseline."""
    NEW_DAY = "new_day"
    """The day total started a new plant day."""
    CARRYOVER = "carryover"
    """The new plant day still carries yesterday's total, which is not shown."""
    OUT_OF_ORDER = "out_of_order"
    """The record belongs to an earlier plant day than the one shown; ignored."""
    FUTURE_DAY = "future_day"
    """The record claims a plant day that has not begun; ignored."""


def _usable(value: float | None) -> TypeGuard[float]:
    """Return whether a number is finite and not negative."""
    return value is not None and math.isfinite(value) and value >= 0


class LifetimeCounterGuard:
    """Make a lifetime kWh counter safe for a ``total_increasing`` sensor.

    A value above the last good one is taken if the inverter could have produced
    the difference since the last good upload (`max_energy_kwh`). A lower value, an
    implausible rise, 0 or ``None`` keeps the last good value, unless the other
    values are confirmed for long enough to be a real meter or inverter replacement
    (or, for a rise, a last good value that was itself the glitch): at least
    `COUNTER_RESET_MIN_UPLOADS` consecutive distinct uploads spanning at least
    `COUNTER_RESET_MIN_SPAN`, never decreasing among themselves and rising no faster
    than an inverter can. 0 never counts towards a replacement (a counter of exactly
    0 is the classic glitch, and accepting it would let the old total come back as
    a spike). ``None`` and 0 neither count nor break the confirmation; a plausible
    value ends it.
    """

    def __init__(
        self,
        *,
        confirm_uploads: int = COUNTER_RESET_MIN_UPLOADS,
        confirm_span: timedelta = COUNTER_RESET_MIN_SPAN,
    ) -> None:
        """Create a guard without a known value.

        Args:
            confirm_uploads: Distinct uploads needed to accept another baseline.
            confirm_span: Upload time those uploads must span.
        """
        self._confirm_uploads = confirm_uploads
        self._confirm_span = confirm_span
        self._last_good: float | None = None
        # The upload of the last good value, when known (not after an old restore).
        self._good_time: datetime | None = None
        self._last_upload: datetime | None = None
        self._status: GuardStatus | None = None
        self._run_start: datetime | None = None
        self._run_count = 0
        self._run_last = 0.0
        self._run_last_time: datetime | None = None

    @property
    def last_good(self) -> float | None:
        """The value shown: the last accepted counter value, if any."""
        return self._last_good

    @property
    def status(self) -> GuardStatus | None:
        """Why the last `update` returned what it did (``None`` before any)."""
        return self._status

    def restore(self, value: float | None, upload_time: datetime | None) -> None:
        """Seed the last good value, e.g. the sensor's state before a restart.

        Args:
            value: The value shown before; ignored unless finite, above 0 and
                within what an inverter can count.
            upload_time: The upload of that value, if known (aware; the caller
                drops one that lies in the future).
        """
        if _usable(value) and 0 < value <= MAX_LIFETIME_KWH:
            self._last_good = value
            self._good_time = upload_time
            self._clear_run()

    def as_dict(self) -> dict[str, str | float | None]:
        """Return the state to store (JSON-safe), for `restore`."""
        return {
            "last_good": self._last_good,
            "last_time": self._good_time.isoformat() if self._good_time else None,
        }

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
        elif not _usable(value) or not value or value > MAX_LIFETIME_KWH:
            self._status = GuardStatus.INVALID
        elif self._last_good is None or (
            value >= self._last_good
            and _could_rise(self._last_good, self._good_time, value, upload_time)
        ):
            self._accept(value, upload_time)
            self._status = GuardStatus.ACCEPTED
        else:
            self._status = self._candidate(
                value,
                upload_time,
                GuardStatus.LOWER
                if value < self._last_good
                else GuardStatus.IMPLAUSIBLE,
            )
        return self._last_good

    def _accept(self, value: float, upload_time: datetime) -> None:
        self._last_good = value
        self._good_time = upload_time
        self._clear_run()

    def _candidate(
        self, value: float, upload_time: datetime, status: GuardStatus
    ) -> GuardStatus:
        """Count a value the last good one rules out towards another baseline."""
        if (
            self._run_start is None
            or value < self._run_last
            or not _could_rise(self._run_last, self._run_last_time, value, upload_time)
        ):
            self._run_start = upload_time
            self._run_count = 0
        self._run_count += 1
        self._run_last = value
        self._run_last_time = upload_time
        if (
            self._run_count >= self._confirm_uploads
            and upload_time - self._run_start >= self._confirm_span
        ):
            self._accept(value, upload_time)
            return GuardStatus.REPLACED
        return status

    def _clear_run(self) -> None:
        """Forget the values collected towards another baseline."""
        self._run_start = None
        self._run_count = 0
        self._run_last = 0.0
        self._run_last_time = None


def _could_rise(
    before: float, before_time: datetime | None, value: float, upload_time: datetime
) -> bool:
    """Return whether a counter can rise from ``before`` to ``value`` in the time."""
    if before_time is None:
        return True
    return value - before <= max_energy_kwh(upload_time - before_time)


class DayTotalGuard:
    """Make ``yieldtoday`` safe: it goes down only when the plant's day changes.

    Within one plant day (the plant's date of the upload, as the upload clock gives
    it) the value never goes down: a lower glitch keeps the day's maximum, and it
    rises no faster than an inverter can produce. On the first record of
    a new day, a value at or above yesterday's final (when that was above 0) is
    yesterday's total carried over: the day reads 0 until the inverter reports a
    value lower than yesterday's final, or `DAY_CARRYOVER_MAX` has passed. Within
    that time after the day's first record, yesterday's exact final reappearing
    after the reset is not taken either (today's maximum is kept). When the plant's
    date has moved past the last record's (inverter asleep over midnight),
    `value_for` reads 0.

    A record of a plant day that has not begun, or a value beyond what an inverter
    can produce in a day, is ignored. Persist `as_dict` to restore; the displayed
    value alone is not enough, because it reads 0 after midnight.
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
        # The upload of the day's maximum, when known (not after a restore).
        self._max_time: datetime | None = None
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
        if not _usable(value) or value > MAX_DAY_KWH:
            return
        self._day = day
        self._max = value
        self._max_time = None
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
        today: date | None = None,
        report: Callable[[str], None] = lambda _: None,
        carryover_max: timedelta = DAY_CARRYOVER_MAX,
    ) -> DayTotalGuard:
        """Build a guard from `as_dict` output; bad or missing data starts fresh.

        Args:
            data: What `as_dict` returned before.
            today: The plant's date now: a stored day after it cannot be true.
            report: Told in a sentence what was dropped, if anything.
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
        if restored_day is not None and today is not None and restored_day > today:
            report(f"the stored day {restored_day} has not begun")
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
        self,
        value: float | None,
        upload_time: datetime,
        record_day: date,
        *,
        today: date | None = None,
    ) -> float | None:
        """Take one record and return the value to show for its day.

        Args:
            value: ``yieldtoday`` as reported (kWh), or ``None``.
            upload_time: The record's upload instant (aware, from the upload clock).
            record_day: The plant's date of that upload.
            today: The plant's date now, if known: a later record day is ignored.

        Returns:
            `value_for` the record's day (today's, for an ignored future day).
        """
        if today is not None and record_day > today:
            self._status = GuardStatus.FUTURE_DAY
            return self.value_for(today)
        if value is None:
            self._status = GuardStatus.MISSING
        elif not _usable(value) or value > MAX_DAY_KWH:
            self._status = GuardStatus.INVALID
        elif self._day is None:
            self._day = record_day
            self._day_start = upload_time
            self._set_max(value, upload_time)
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
        elif self._max_time is not None and value - self._max > max_energy_kwh(
            upload_time - self._max_time
        ):
            self._status = GuardStatus.IMPLAUSIBLE
        else:
            self._set_max(value, upload_time)
            self._status = GuardStatus.ACCEPTED
        return self.value_for(record_day)

    def _set_max(self, value: float, upload_time: datetime | None) -> None:
        self._max = value
        self._max_time = upload_time

    def _new_day(self, value: float, day: date, upload_time: datetime) -> GuardStatus:
        """Start a new plant day, detecting yesterday's total carried over."""
        self._yesterday_final = self._max
        self._day = day
        self._day_start = upload_time
        if 0 < self._yesterday_final <= value:
            self._carry = True
            self._set_max(0.0, None)
            return GuardStatus.CARRYOVER
        self._carry = False
        self._set_max(value, upload_time)
        return GuardStatus.NEW_DAY

    def _carried(self, value: float, upload_time: datetime) -> GuardStatus:
        """Take a value while the day still carries yesterday's total."""
        if value < self._yesterday_final or not self._early(upload_time):
            self._carry = False
            self._set_max(value, upload_time)
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


# --- Readings ----------------------------------------------------------------------

_POWERS = ("ac_power", "feed_in_power", "meter2_power", "battery_power")
_COUNTERS = {
    "yield_today": MAX_DAY_KWH,
    "yield_total": MAX_LIFETIME_KWH,
    "feed_in_energy": MAX_LIFETIME_KWH,
    "consume_energy": MAX_LIFETIME_KWH,
}


def plausible_power(value: float | None) -> float | None:
    """Return a power reading (W) an inverter can produce, else None (missing)."""
    if value is None or not math.isfinite(value) or abs(value) > MAX_POWER_W:
        return None
    return value


def plausible_record(record: RealtimeData) -> tuple[RealtimeData, tuple[str, ...]]:
    """Return the record with every reading that cannot be true made missing.

    A power beyond `MAX_POWER_W`, a state of charge outside 0-100 %, or a counter
    beyond what an inverter can count (`MAX_DAY_KWH`, `MAX_LIFETIME_KWH`) cannot be
    true: it becomes ``None``, like a field the model lacks.

    Returns:
        The record, and the names of the fields that were dropped.
    """
    changes: dict[str, Any] = {
        name: None
        for name in _POWERS
        if plausible_power(getattr(record, name)) is None
        and getattr(record, name) is not None
    }
    changes |= {
        name: None
        for name, limit in _COUNTERS.items()
        if (value := getattr(record, name)) is not None and value > limit
    }
    if record.battery_soc is not None and not 0 <= record.battery_soc <= 100:
        changes["battery_soc"] = None
    for name in ("eps_power", "pv_power"):
        values = getattr(record, name)
        if any(plausible_power(value) != value for value in values):
            changes[name] = tuple(plausible_power(value) for value in values)
    if not changes:
        return record, ()
    return replace(record, **changes), tuple(sorted(changes))
