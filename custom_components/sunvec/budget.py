"""Call budget of one API token, shared by the inverters polled with it.

The cloud allows fewer than 10 calls a minute and 10,000 a day per token (field
reports: repeated violations lock the token out for an hour). Every inverter asks the
budget when it may make the call its policy wants; the budget plans all pending
requests together so that:

* no window of a minute (widened by a margin for time in flight and calendar-minute
  counting) holds more than ``per_minute - 1`` calls and no rolling 24 hours more
  than ``per_day - 1`` (less a small margin), whatever the demand;
* consecutive calls are at least ``60 / per_minute`` seconds apart, so inverters that
  start together are spread out;
* when demand exceeds supply, the request whose data has been due the longest goes
  first, which keeps the inverters' staleness even;
* the day's calls are paced: what the daily cap leaves, plus the calls that leave
  the rolling day meanwhile, is spread evenly over the next 12 hours (and never
  spent before older calls leave). A fleet that sleeps at night starts each day with
  plenty and is not slowed; a fleet that needs about the daily cap runs at an even
  rate instead of running dry for hours.

The plan is recomputed on every request: planned times are hints, and the caller asks
again when one comes (see ``reserve``). When calls come late on average the budget is
``under_pressure`` and the policies should save calls. Pure module: no I/O, no clock.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Iterable
from dataclasses import dataclass
import heapq
import itertools
import math

MINUTE = 60.0
DAY = 86400.0
# The per-minute window is widened by this much: a request's arrival at the cloud
# varies by a few seconds (time in flight), and the cloud may count calendar minutes.
MINUTE_MARGIN = 3.0
# Calls kept below the daily limit, for calls made outside the budget's knowledge.
# Small: the rolling 24 hours are already stricter than any calendar day, and 34
# inverters need 98 % of the allowance for one call per record.
DAY_MARGIN = 10
# Pacing: the allowance left by the last PACE_HORIZON is spread evenly over the next
# PACE_HORIZON (two halves of the rolling day), counted over sliding windows of
# PACE_WINDOW so that inverters whose uploads fall close together are not delayed.
PACE_HORIZON = DAY / 2
PACE_WINDOW = 1800.0
# The pacing is also checked over the horizon halved this many times (down to 45
# minutes): calls must not run out before older ones leave the rolling day.
PACE_SPANS = 5
# Pauses after consecutive rate-limit replies: the rest of the minute, then longer,
# up to the hour that field reports give as the lockout.
RATE_LIMIT_PAUSES = (60.0, 300.0, 900.0, 3600.0)
# Consecutive rate-limit replies after which the problem counts as persistent.
RATE_LIMIT_PERSISTS_AFTER = 3
# The longest pause the cloud may ask for (a Retry-After beyond it is nonsense).
PAUSE_MAX = DAY
# Calls recorded later than now (plus this much float slack) cannot have been made:
# the host clock stepped back, or a store lies. They are forgotten.
FUTURE_SLACK = 1.0
# A request planned this long ago and not taken is ignored until asked for again (its
# inverter is stuck or gone; it must not block the others).
STALE_REQUEST = 60.0
# Calls run short when they are made this late on average (seconds after the time
# their inverter wanted; smoothed over about the last PRESSURE_CALLS calls); the
# pressure ends when the delay falls below PRESSURE_OFF (hysteresis).
PRESSURE_ON = 15.0
PRESSURE_OFF = 5.0
PRESSURE_CALLS = 20


@dataclass(frozen=True, slots=True)
class PauseState:
    """A token's rate-limit pause and escalation, kept while no inverter polls."""

    until: float
    """When calls may resume (UNIX time)."""
    length: float
    """How long the pause was when it began (s): no clock step makes it longer."""
    rate_limits: int
    """Rate-limit replies in a row."""
    last_pause: float
    """The pause the last rate-limit reply caused (s)."""


@dataclass(slots=True)
class _Request:
    wanted: float
    # The time asked for, even if already past: the call's delay is measured from it.
    asked: float
    # The instant since which the inverter's data is due: earliest is served first.
    due: float
    planned: float
    # Order of arrival, to keep plans stable between equals.
    order: int


class TokenBudget:
    """Shares the call limits of one API token among its inverters."""

    def __init__(
        self,
        *,
        per_minute: int = 10,
        per_day: int = 10_000,
        history: Iterable[float] = (),
        pause: PauseState | None = None,
    ) -> None:
        """Create the budget of one token.

        Args:
            per_minute: The documented limit per minute (calls must stay below it).
            per_day: The documented limit per day (calls must stay below it).
            history: Calls made with the token before (``recent_calls`` saved at
                the last shutdown): the cloud still counts them.
            pause: The token's pause before (``pause_state``): it still holds.
        """
        self._minute_cap = max(1, per_minute - 1)
        self._day_cap = max(1, per_day - 1 - DAY_MARGIN)
        self._spacing = MINUTE / per_minute
        self._calls: list[float] = sorted(history)
        self._requests: dict[str, _Request] = {}
        self._inverters: set[str] = set()
        self._order = itertools.count()
        self._paused_until = 0.0 if pause is None else pause.until
        self._pause_length = 0.0 if pause is None else pause.length
        self._rate_limits = 0 if pause is None else pause.rate_limits
        self._last_pause = 0.0 if pause is None else pause.last_pause
        self._delay = 0.0
        self._pressure = False

    # --- Inverters ------------------------------------------------------------------

    def add_inverter(self, inverter_id: str) -> None:
        """Register an inverter that polls with this token."""
        self._inverters.add(inverter_id)

    def remove_inverter(self, inverter_id: str) -> None:
        """Forget an inverter (and its pending request)."""
        self._inverters.discard(inverter_id)
        self.release(inverter_id)

    @property
    def inverters(self) -> frozenset[str]:
        """Return the inverters that use this token; when none is left it can go."""
        return frozenset(self._inverters)

    # --- Requests ---------------------------------------------------------------------

    def reserve(
        self, now: float, inverter_id: str, wanted: float, priority: float
    ) -> float:
        """Return when an inverter may make the call it wants.

        The answer is a plan, not a promise: others' requests can move it. The caller
        waits until the returned time, then asks again with the same arguments; when
        the answer is not later than ``now`` it calls ``record_call`` at once (before
        any await) and makes the call.

        Args:
            now: The current time.
            inverter_id: Who asks; one pending request per inverter (a new one
                replaces the old).
            wanted: When the inverter wants to call (at the earliest).
            priority: Seconds the inverter's data is overdue at ``now`` (negative
                while not due yet): ``now - priority`` is the instant since which it
                waits, and the longest waiting goes first.

        Returns:
            The time the call may be made, not before ``wanted`` and ``now``.
        """
        request = self._requests.get(inverter_id)
        order = next(self._order) if request is None else request.order
        request = _Request(
            wanted=max(wanted, now),
            asked=wanted,
            due=now - priority,
            planned=max(wanted, now),
            order=order,
        )
        self._requests[inverter_id] = request
        self._prune(now)
        request.planned = self._plan(now, inverter_id)
        return request.planned

    def earliest_call(self, now: float) -> float:
        """Return when one call that somebody waits for may be made.

        For a config flow's check: it keeps the cloud's limits (and any pause) and
        goes before the polls that wait, but is not spaced from the last call.
        Count it with ``record_call`` when made.
        """
        self._prune(now)
        return self._earliest_allowed(now, [], self._pace_cap(now), spaced=False)

    def record_call(self, at: float, inverter_id: str | None = None) -> None:
        """Count a call made at ``at``; pass the inverter to close its request.

        Calls made outside the budget (a config flow's check) must be recorded too.
        """
        insort(self._calls, at)
        if inverter_id is None:
            return
        request = self._requests.pop(inverter_id, None)
        if request is not None:
            delay = max(0.0, at - request.asked)
            self._delay += (delay - self._delay) / PRESSURE_CALLS
            if self._delay > PRESSURE_ON:
                self._pressure = True
            elif self._delay < PRESSURE_OFF:
                self._pressure = False

    def release(self, inverter_id: str) -> None:
        """Drop an inverter's pending request (unload, or a manual refresh)."""
        self._requests.pop(inverter_id, None)

    # --- Rate-limit replies ---------------------------------------------------------

    def pause_for_rate_limit(
        self, now: float, retry_after: float | None = None
    ) -> float:
        """Pause the whole token after a rate-limit reply; return until when.

        Args:
            now: When the reply came.
            retry_after: How long the cloud asked to wait (HTTP 429's Retry-After,
                a lock-out's hour), if it did: the pause is at least that long.
        """
        pause = RATE_LIMIT_PAUSES[min(self._rate_limits, len(RATE_LIMIT_PAUSES) - 1)]
        if retry_after is not None and retry_after > 0:
            pause = max(pause, min(retry_after, PAUSE_MAX))
        self._rate_limits += 1
        self._last_pause = pause
        self._paused_until = max(self._paused_until, now + pause)
        self._pause_length = self._paused_until - now
        return self._paused_until

    def pause_state(self) -> PauseState | None:
        """Return the pause and escalation to keep, or None if there is none."""
        if not self._rate_limits and not self._paused_until:
            return None
        return PauseState(
            until=self._paused_until,
            length=self._pause_length,
            rate_limits=self._rate_limits,
            last_pause=self._last_pause,
        )

    def reset_rate_limit_escalation(self) -> None:
        """Note a reply that was not a rate-limit one: the next pause is short again."""
        self._rate_limits = 0
        self._last_pause = 0.0

    @property
    def under_pressure(self) -> bool:
        """Return whether calls run short: they are made well after wanted.

        The inverters' policies should then save calls (``set_thrifty``) until the
        delays are gone.
        """
        return self._pressure

    @property
    def paused_until(self) -> float:
        """Return until when the token is paused (0 if it never was)."""
        return self._paused_until

    @property
    def consecutive_rate_limits(self) -> int:
        """Return the rate-limit replies since the last successful one."""
        return self._rate_limits

    @property
    def rate_limit_persists(self) -> bool:
        """Return whether rate limits keep coming (worth a repair issue)."""
        return (
            self._rate_limits >= RATE_LIMIT_PERSISTS_AFTER
            or self._last_pause >= RATE_LIMIT_PAUSES[2]
        )

    def recent_calls(self, now: float) -> list[float]:
        """Return the calls of the last 24 hours, to save for the next start."""
        return self._calls[bisect_right(self._calls, now - DAY) :]

    def usage(self, now: float) -> dict[str, float | int | bool]:
        """Return the calls counted in the windows, for diagnostics."""
        return {
            "calls_last_minute": self._count(now, MINUTE),
            "calls_last_day": self._count(now, DAY),
            "minute_cap": self._minute_cap,
            "day_cap": self._day_cap,
            "pending_requests": len(self._requests),
            "paused_until": self._paused_until,
            "consecutive_rate_limits": self._rate_limits,
            "mean_delay": self._delay,
            "under_pressure": self._pressure,
        }

    # --- Planning -------------------------------------------------------------------

    def _plan(self, now: float, asking: str) -> float:
        """Plan the pending requests in order; return the asking one's time.

        Each step takes the earliest time the limits allow, and gives it to the
        request due the longest among those that want to call by then. Others cannot
        be planned earlier than they were told (they would not know), the asking one
        can.
        """
        pending = sorted(
            (
                request.wanted
                if key == asking
                else max(request.wanted, request.planned),
                request.due,
                request.order,
                key,
            )
            for key, request in self._requests.items()
            if key == asking or request.planned >= now - STALE_REQUEST
        )
        ready: list[tuple[float, int, str]] = []
        planned: list[float] = []
        pace_cap = self._pace_cap(now)
        t = now
        waiting = 0
        while True:
            if not ready:
                t = max(t, pending[waiting][0])
            t = self._earliest_allowed(t, planned, pace_cap)
            while waiting < len(pending) and pending[waiting][0] <= t:
                _, due, order, key = pending[waiting]
                heapq.heappush(ready, (due, order, key))
                waiting += 1
            _, _, key = heapq.heappop(ready)
            if key == asking:
                return t
            planned.append(t)

    def _earliest_allowed(
        self, t: float, planned: list[float], pace_cap: int, *, spaced: bool = True
    ) -> float:
        """Return the earliest time >= t at which one more call keeps every limit."""
        while True:
            start = t
            t = max(t, self._paused_until)
            last = (
                planned[-1] if planned else (self._calls[-1] if self._calls else None)
            )
            if last is not None and spaced:
                t = max(t, last + self._spacing)
            t = self._window_limit(t, planned, MINUTE + MINUTE_MARGIN, self._minute_cap)
            t = self._window_limit(t, planned, PACE_WINDOW, pace_cap)
            t = self._window_limit(t, planned, DAY, self._day_cap)
            if t == start:
                return t

    def _window_limit(
        self, t: float, planned: list[float], span: float, cap: int
    ) -> float:
        """Return the earliest time >= t with fewer than ``cap`` calls in the span."""
        # Planned calls all come after the recorded ones (spacing), so the two lists
        # concatenate in time order.
        first_call = bisect_right(self._calls, t - span)
        first_planned = bisect_right(planned, t - span)
        in_window = len(self._calls) - first_call + len(planned) - first_planned
        excess = in_window - cap + 1
        if excess <= 0:
            return t
        recorded = len(self._calls) - first_call
        index = excess - 1
        leaving = (
            self._calls[first_call + index]
            if index < recorded
            else planned[first_planned + index - recorded]
        )
        # Just after it leaves (a hair later, so that float rounding cannot keep it).
        return max(t, leaving + span + 1e-6)

    def _pace_cap(self, t: float) -> int:
        """Return the calls allowed per pacing window at ``t``.

        The allowance is spread evenly over the next PACE_HORIZON: what the daily
        cap leaves, plus the calls that leave the rolling day meanwhile. Checked
        over shorter spans too, so that calls never run out before older ones
        leave the rolling day.
        """
        headroom = self._day_cap - self._count(t, DAY)
        rate = math.inf
        for halving in range(PACE_SPANS):
            span = PACE_HORIZON / 2**halving
            leaving = self._count(t - DAY + span, span)
            rate = min(rate, (headroom + leaving) / span)
        return max(1, int(rate * PACE_WINDOW))

    def _count(self, t: float, span: float) -> int:
        return bisect_right(self._calls, t) - bisect_right(self._calls, t - span)

    def _prune(self, now: float) -> None:
        old = bisect_right(self._calls, now - DAY - MINUTE)
        if old:
            del self._calls[:old]
        # After the host clock stepped back, no call lies ahead and no pause lasts
        # longer than it was: the step costs at most one spacing.
        del self._calls[bisect_right(self._calls, now + FUTURE_SLACK) :]
        self._paused_until = min(self._paused_until, now + self._pause_length)
