"""Tests of the call budget shared by the inverters of one token."""

from __future__ import annotations

from bisect import bisect_right
import heapq
from itertools import pairwise
from statistics import mean

import pytest

from custom_components.sunvec import budget as budget_module
from custom_components.sunvec.budget import TokenBudget

DAY = 86400.0
HOUR = 3600.0


def max_per_window(times: list[float], span: float) -> int:
    """Return the most calls in any half-open window (t - span, t]."""
    ordered = sorted(times)
    return max(
        (i + 1 - bisect_right(ordered, t - span) for i, t in enumerate(ordered)),
        default=0,
    )


def hammer(
    budget: TokenBudget,
    count: int,
    end: float,
    *,
    every: float = 0.0,
    start: float = 0.0,
) -> tuple[list[float], dict[str, list[float]]]:
    """Let ``count`` inverters call as often as they like (every ``every`` s).

    Each one asks again after its call, wanting ``every`` seconds later, and waits
    for as long as the budget says. Returns all calls and each inverter's waits
    (call time minus wanted time).
    """
    ids = [f"inverter{i}" for i in range(count)]
    wanted = dict.fromkeys(ids, start)
    waits: dict[str, list[float]] = {inverter_id: [] for inverter_id in ids}
    calls: list[float] = []
    timers = [(start, inverter_id) for inverter_id in ids]
    while timers:
        now, inverter_id = heapq.heappop(timers)
        if now >= end:
            continue
        at = budget.reserve(
            now, inverter_id, wanted[inverter_id], now - wanted[inverter_id]
        )
        if at <= now:
            budget.record_call(now, inverter_id)
            calls.append(now)
            waits[inverter_id].append(now - wanted[inverter_id])
            wanted[inverter_id] = now + every
            at = budget.reserve(now, inverter_id, wanted[inverter_id], -every)
        heapq.heappush(timers, (at, inverter_id))
    return calls, waits


def test_never_more_than_the_limits_with_50_inverters_hammering() -> None:
    budget = TokenBudget()
    calls, _ = hammer(budget, 50, 2 * HOUR)
    assert max_per_window(calls, 60.0) <= 9
    assert max_per_window(calls, 60.0 + budget_module.MINUTE_MARGIN) <= 9
    # Consecutive calls are spread out, not bunched at the start of a minute.
    assert min(b - a for a, b in pairwise(sorted(calls))) >= 6.0 - 1e-9
    # ... and the budget is used: about 9 calls every 63 s.
    assert len(calls) >= 2 * HOUR / 63 * 9 - 10


def test_never_more_than_the_daily_limit_in_any_24_hours() -> None:
    """A small daily limit (for speed): the rolling 24 hours hold no more."""
    budget = TokenBudget(per_minute=10, per_day=300)
    calls, waits = hammer(budget, 5, 3 * DAY)
    assert max_per_window(calls, DAY) <= 299
    assert max_per_window(calls, 60.0) <= 9
    # Paced, not spent in a burst and then starved for the rest of the day.
    for hour in range(6, 72):
        in_hour = [t for t in calls if hour * HOUR <= t < (hour + 1) * HOUR]
        assert in_hour, f"no call in hour {hour}"
    assert all(waits[inverter_id] for inverter_id in waits)


def test_first_polls_of_inverters_that_start_together_are_spread() -> None:
    budget = TokenBudget()
    for i in range(50):
        budget.add_inverter(f"inverter{i}")
    planned = [budget.reserve(0.0, f"inverter{i}", 0.0, 0.0) for i in range(50)]
    assert planned[0] == 0.0
    assert len(set(planned)) == 50
    assert min(b - a for a, b in pairwise(sorted(planned))) >= 6.0
    assert max_per_window(planned, 60.0 + budget_module.MINUTE_MARGIN) <= 9
    assert len(budget.inverters) == 50


def test_fair_sharing_when_demand_exceeds_supply() -> None:
    """20 inverters that want a call every minute get 9 a minute between them."""
    budget = TokenBudget()
    calls, waits = hammer(budget, 20, 3 * HOUR, every=60.0)
    assert max_per_window(calls, 60.0) <= 9
    counts = [len(w) for w in waits.values()]
    assert max(counts) - min(counts) <= 1
    # Everyone waits about as long: the staleness is even.
    average = [mean(w[10:]) for w in waits.values()]
    assert max(average) - min(average) <= 15.0
    assert max(max(w[10:]) for w in waits.values()) <= 2.5 * mean(average)


def test_the_longest_due_goes_first() -> None:
    budget = TokenBudget()
    budget.record_call(0.0)
    # Both want to call at 3 s; the one whose data is due longer wins.
    late = budget.reserve(1.0, "b", 3.0, -2.0)
    first = budget.reserve(1.0, "a", 3.0, 100.0)
    assert first == 6.0
    assert budget.reserve(2.0, "b", 3.0, -1.0) == 12.0
    assert late == 6.0  # what b was told before a asked: a hint, not a promise


def test_asking_again_when_the_time_comes() -> None:
    budget = TokenBudget()
    assert budget.reserve(0.0, "a", 10.0, -10.0) == 10.0
    assert budget.reserve(10.0, "a", 10.0, 0.0) == 10.0
    budget.record_call(10.0, "a")
    assert budget.usage(10.0)["pending_requests"] == 0
    assert budget.reserve(10.0, "a", 12.0, -2.0) == 16.0


def test_release_frees_the_slot() -> None:
    budget = TokenBudget()
    assert budget.reserve(0.0, "a", 0.0, 0.0) == 0.0
    assert budget.reserve(0.0, "b", 0.0, 0.0) == 6.0
    budget.release("a")
    assert budget.reserve(0.0, "b", 0.0, 0.0) == 0.0


def test_a_stale_request_does_not_block_the_others() -> None:
    budget = TokenBudget()
    assert budget.reserve(0.0, "stuck", 0.0, 1000.0) == 0.0
    assert budget.reserve(0.0, "b", 0.0, 0.0) == 6.0
    # The stuck inverter never called; a minute later it no longer counts.
    assert budget.reserve(100.0, "b", 100.0, 0.0) == 100.0


def test_calls_outside_the_budget_are_counted() -> None:
    budget = TokenBudget()
    for second in range(9):
        budget.record_call(second * 6.0)
    assert budget.usage(50.0)["calls_last_minute"] == 9
    assert budget.reserve(50.0, "a", 50.0, 0.0) == pytest.approx(63.0)


def test_rate_limit_pauses_escalate_and_reset() -> None:
    budget = TokenBudget()
    assert not budget.rate_limit_persists
    assert budget.paused_until == 0.0
    pauses = []
    for count in range(1, 6):
        until = budget.pause_for_rate_limit(1000.0 * count)
        pauses.append(until - 1000.0 * count)
        assert budget.consecutive_rate_limits == count
        assert budget.paused_until == until
    assert pauses == [60.0, 300.0, 900.0, 3600.0, 3600.0]
    assert budget.rate_limit_persists
    # Nothing is planned during the pause.
    assert budget.reserve(5000.0, "a", 5000.0, 0.0) == 5000.0 + 3600.0
    budget.reset_rate_limit_escalation()
    assert budget.consecutive_rate_limits == 0
    assert not budget.rate_limit_persists
    assert budget.pause_for_rate_limit(10000.0) == 10060.0


def test_a_long_pause_alone_persists() -> None:
    budget = TokenBudget()
    budget.pause_for_rate_limit(0.0)
    budget.reset_rate_limit_escalation()
    budget.pause_for_rate_limit(100.0)
    assert not budget.rate_limit_persists


def test_a_removed_inverter_frees_its_turn() -> None:
    """An inverter that leaves (its entry unloads) takes no turn from the others."""
    budget = TokenBudget()
    for inverter in ("a", "b", "a"):
        budget.add_inverter(inverter)
    assert budget.inverters == {"a", "b"}
    budget.record_call(0.0)
    first = budget.reserve(0.0, "a", 0.0, 10.0)
    assert budget.reserve(0.0, "b", 0.0, 0.0) > first
    budget.remove_inverter("a")
    budget.remove_inverter("a")
    assert budget.reserve(0.0, "b", 0.0, 0.0) == first
    assert budget.inverters == {"b"}


def test_pressure_when_calls_come_late() -> None:
    budget = TokenBudget()
    assert not budget.under_pressure
    now = 0.0
    # 12 inverters that all want to call every 30 s: far more than allowed.
    calls, _ = hammer(budget, 12, HOUR, every=30.0)
    assert budget.under_pressure
    assert budget.usage(HOUR)["under_pressure"] is True
    # Calls made when wanted ease the pressure again.
    now = 2 * HOUR
    for _ in range(100):
        now += 10.0
        budget.reserve(now, "calm", now, 0.0)
        budget.record_call(now, "calm")
    assert not budget.under_pressure
    assert calls


def test_old_calls_are_forgotten() -> None:
    budget = TokenBudget()
    budget.record_call(0.0)
    budget.record_call(10.0)
    budget.reserve(2 * DAY, "a", 2 * DAY, 0.0)
    usage = budget.usage(2 * DAY)
    assert usage["calls_last_day"] == 0
    assert usage["day_cap"] == 10_000 - 1 - budget_module.DAY_MARGIN
    assert usage["minute_cap"] == 9


def test_history_survives_a_restart() -> None:
    budget = TokenBudget(per_day=100)
    calls, _ = hammer(budget, 3, 6 * HOUR)
    saved = budget.recent_calls(6 * HOUR)
    assert saved == sorted(calls)
    # Restarted: the calls the cloud still counts keep the new budget in check.
    restarted = TokenBudget(per_day=100, history=reversed(saved))
    more, _ = hammer(restarted, 3, 30 * HOUR, start=6 * HOUR)
    assert max_per_window(calls + more, DAY) <= 99
    assert restarted.recent_calls(DAY + 7 * HOUR) == sorted(
        t for t in calls + more if t > 7 * HOUR
    )


def test_a_call_without_a_pending_request() -> None:
    budget = TokenBudget()
    budget.record_call(0.0, "manual")
    assert budget.usage(0.0)["calls_last_minute"] == 1
    assert budget.usage(0.0)["mean_delay"] == 0.0
