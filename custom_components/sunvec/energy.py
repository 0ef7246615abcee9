"""Integrate power readings into energy (trapezoid rule).

Pure logic: no Home Assistant imports, no I/O and no clock reads. Used where the
cloud gives power but no energy counter: PV energy from the sum of the string powers
(``powerdc1..4``), battery charge energy from the positive part of ``batPower`` and
discharge energy from its negative part.

Integration runs between consecutive *uploads* (the record's upload time, not the
poll time): the cloud repeats a record until the inverter uploads again, and
integrating the repeats would count the same reading many times.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
import math
from typing import Final

from .const import UPLOAD_PERIOD
from .guards import MAX_LIFETIME_KWH, plausible_power

DEFAULT_MAX_GAP: Final = timedelta(seconds=3 * UPLOAD_PERIOD)
"""Longest interval between two uploads that is integrated.

Two missed uploads in a row are still bridged (power rarely changes shape in 15
minutes); a longer gap (inverter asleep, cloud or network outage, Home Assistant
stopped) adds nothing, because any straight line across it would be a guess.
"""

_WS_PER_KWH: Final = 3_600_000.0
"""Watt-seconds in one kilowatt-hour."""


class PowerPart(StrEnum):
    """Which part of a signed power reading to integrate."""

    POSITIVE = "positive"
    """Only power above 0 (PV, battery charging: ``batPower`` > 0)."""
    NEGATIVE = "negative"
    """Only power below 0, counted as positive energy (battery discharging)."""


def sum_known(values: Iterable[float | None]) -> float | None:
    """Add up the readings that are present, e.g. the PV string powers.

    Args:
        values: Readings; ``None`` (a string the model does not have) is skipped.

    Returns:
        The sum, or ``None`` when no reading is present.
    """
    known = [value for value in values if value is not None]
    return math.fsum(known) if known else None


def segment_energy_ws(
    power_start: float, power_end: float, seconds: float
) -> tuple[float, float]:
    """Integrate a straight power line over one interval, split by sign.

    When the power changes sign inside the interval the trapezoid is split at the
    linearly interpolated zero crossing, so the result is exact for power that is
    piecewise linear between samples.

    Args:
        power_start: Power at the start of the interval (W).
        power_end: Power at the end of the interval (W).
        seconds: Length of the interval.

    Returns:
        The energy above 0 and the magnitude of the energy below 0, in W·s.
    """
    if power_start >= 0 and power_end >= 0:
        return (power_start + power_end) / 2 * seconds, 0.0
    if power_start <= 0 and power_end <= 0:
        return 0.0, -(power_start + power_end) / 2 * seconds
    crossing = power_start / (power_start - power_end) * seconds
    first = power_start / 2 * crossing
    second = power_end / 2 * (seconds - crossing)
    if first > 0:
        return first, -second
    return second, -first


class PowerIntegrator:
    """Accumulate energy (kWh) from the power of consecutive uploads.

    An interval between two uploads adds its trapezoid when both readings are
    present and the uploads are at most ``max_gap`` apart. A record seen again (same
    sample time) or an earlier one adds nothing and changes nothing; a missing
    reading (``None``) becomes the new sample, so both intervals touching it add
    nothing. The total never decreases.
    """

    def __init__(
        self, part: str = PowerPart.POSITIVE, max_gap: timedelta = DEFAULT_MAX_GAP
    ) -> None:
        """Create an integrator at 0 kWh.

        Args:
            part: A `PowerPart` (or its value): which part of the power to count.
            max_gap: Longest interval between uploads that is integrated.

        Raises:
            ValueError: For an unknown part or a gap that is not positive.
        """
        if max_gap <= timedelta(0):
            raise ValueError("max_gap must be positive")
        self._part = PowerPart(part)
        self._max_gap = max_gap
        self._total = 0.0
        self._last_time: datetime | None = None
        self._last_power: float | None = None

    @property
    def total(self) -> float:
        """Energy so far, in kWh."""
        return self._total

    def add(self, sample_time: datetime, power_w: float | None) -> float:
        """Take one upload's power reading.

        Args:
            sample_time: The record's upload instant (aware, from the upload clock).
            power_w: The signed power in W, or ``None`` when missing.

        Returns:
            The total energy in kWh.
        """
        if self._last_time is not None and sample_time <= self._last_time:
            return self._total
        power = plausible_power(power_w)
        if (
            power is not None
            and self._last_power is not None
            and self._last_time is not None
            and sample_time - self._last_time <= self._max_gap
        ):
            seconds = (sample_time - self._last_time).total_seconds()
            above, below = segment_energy_ws(self._last_power, power, seconds)
            energy = above if self._part is PowerPart.POSITIVE else below
            self._total += max(energy, 0.0) / _WS_PER_KWH
        self._last_time = sample_time
        self._last_power = power
        return self._total

    def restore(
        self, total_kwh: float, last_time: datetime | None, last_power: float | None
    ) -> None:
        """Continue after a restart from a stored state.

        Integration resumes from the stored sample if the next upload is within
        ``max_gap`` of it; otherwise the next upload only starts a new interval, so
        a restart never adds a spike.

        Args:
            total_kwh: The stored total; a negative, non-finite or impossibly large
                one restarts at 0.
            last_time: Upload time of the last sample, if any.
            last_power: Its power in W, if known; one no inverter can produce is
                dropped, as `add` drops such a sample.
        """
        self._total = total_kwh if 0 < total_kwh <= MAX_LIFETIME_KWH else 0.0
        self._last_time = last_time
        self._last_power = (
            plausible_power(last_power) if last_time is not None else None
        )

    def as_dict(self) -> dict[str, float | str | None]:
        """Return the state to store (JSON-safe), for `from_dict`."""
        return {
            "total_kwh": self._total,
            "last_time": self._last_time.isoformat() if self._last_time else None,
            "last_power_w": self._last_power,
        }

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, object],
        *,
        part: str = PowerPart.POSITIVE,
        max_gap: timedelta = DEFAULT_MAX_GAP,
        now: datetime | None = None,
        report: Callable[[str], None] = lambda _: None,
    ) -> PowerIntegrator:
        """Build an integrator from `as_dict` output; bad fields are dropped.

        Args:
            data: What `as_dict` returned before.
            part: As for the constructor.
            max_gap: As for the constructor.
            now: The current time (aware): a stored sample after it cannot be
                true, and is dropped (the total is kept).
            report: Told in a sentence what was dropped, if anything.

        Returns:
            The restored integrator.
        """
        integrator = cls(part, max_gap)
        total = data.get("total_kwh")
        stamp = data.get("last_time")
        power = data.get("last_power_w")
        try:
            last_time = (
                datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
            )
        except ValueError:
            last_time = None
        if last_time is not None and last_time.tzinfo is None:
            last_time = None  # as_dict stores aware times; a naive one is not ours
        if last_time is not None and now is not None and last_time > now:
            report(f"the stored sample of {last_time} lies in the future")
            last_time = None
        if isinstance(total, int | float) and not 0 <= total <= MAX_LIFETIME_KWH:
            report(f"the stored total of {total} kWh cannot be true")
        integrator.restore(
            float(total) if isinstance(total, int | float) else 0.0,
            last_time,
            float(power) if isinstance(power, int | float) else None,
        )
        return integrator
