"""Clocks the simulated cloud can run on: a hand-driven one for tests, a fast one for demos."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import time


def _as_utc(when: datetime) -> datetime:
    """Return ``when`` in UTC; a naive datetime has no meaning here and is refused."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("the simulator's clock needs an aware datetime")
    return when.astimezone(UTC)


def real_clock() -> datetime:
    """Return the current wall-clock time in UTC."""
    return datetime.now(UTC)


class VirtualClock:
    """A clock that only moves when told to, so tests never sleep."""

    def __init__(self, start: datetime) -> None:
        """Start the clock at ``start`` (an aware datetime)."""
        self._now = _as_utc(start)

    def __call__(self) -> datetime:
        """Return the current virtual time (aware, UTC)."""
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        if seconds < 0:
            raise ValueError("a virtual clock only moves forward; use set() to go back")
        self._now += timedelta(seconds=seconds)

    def set(self, when: datetime) -> None:
        """Put the clock at ``when`` (an aware datetime)."""
        self._now = _as_utc(when)


class ScaledClock:
    """Real time, running ``speed`` times faster from the moment it is created."""

    def __init__(self, speed: float = 1.0, start: datetime | None = None) -> None:
        """Run from ``start`` (default: now), ``speed`` simulated seconds per real second."""
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._start = _as_utc(start) if start is not None else real_clock()
        self._started = time.monotonic()

    def __call__(self) -> datetime:
        """Return the simulated time (aware, UTC)."""
        elapsed = time.monotonic() - self._started
        return self._start + timedelta(seconds=elapsed * self.speed)
