"""When one inverter is polled: everything about timing, behind one interface.

`PollScheduler` is all the coordinator knows of timing: it waits for the first turn,
claims each call, and reports what every reply or failure showed; the scheduler
decides when the next poll comes and fires it. `AdaptiveScheduler` is the
integration's own: an `UploadPolicy` aims each poll just after the next upload
should be in the cloud, the account's `TokenBudget` (shared through the
`BudgetRegistry`) says when a call may be made, Home Assistant's sun tells the
policy when the night pause ends, and a `PollTimer` fires the polls. The
benchmarks' baselines implement the same interface.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from homeassistant.const import SUN_EVENT_SUNRISE, SUN_EVENT_SUNSET
from homeassistant.core import CALLBACK_TYPE, HassJob, HomeAssistant, callback
from homeassistant.helpers import sun
from homeassistant.helpers.event import async_call_later
from homeassistant.util import dt as dt_util

from .budget_registry import DATA_BUDGETS
from .const import TIMER_SLACK
from .errors import Failure
from .polling import UploadPolicy
from .repairs import async_clear_rate_limited, async_raise_rate_limited

# The first call waits for the budget at set-up (entries starting together are spread
# out); when the budget has no call for longer than this (the day's calls used up
# before a restart), set-up is retried later instead.
SETUP_WAIT_MAX = 600.0
# Time going back by more than this is a step of the host clock, not timer slack.
CLOCK_STEP = 60.0


class CallsUsedUpError(Exception):
    """The account has no call for a long while: set-up should be retried later."""

    def __init__(self, until: float, *, paused: bool) -> None:
        """Say until when (UNIX time) no call can be made, and whether for a pause.

        Args:
            until: When the next call may be made.
            paused: True for a rate-limit pause (a lock-out), False for the day's
                calls used up.
        """
        super().__init__(f"No call before {until}")
        self.until = until
        self.paused = paused


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyFacts:
    """What a successful reply tells the scheduler."""

    upload_ts: float | None
    """The record's upload instant (`UploadTime.timestamp`), None if undated."""
    asleep: bool
    """Whether the record says the inverter went to sleep."""
    plant_keeps_our_time: bool
    """Whether the plant's clock keeps Home Assistant's zone, so that Home
    Assistant's sunrise and sunset are the plant's."""


class PollScheduler(Protocol):
    """Decides when one inverter is polled and whether its account may call now."""

    @property
    def cadence(self) -> float:
        """Return the upload period (s) that the scheduler knows of."""

    async def async_wait_first_turn(self) -> None:
        """Wait until the first call may be made; the next `claim_call` is granted.

        Raises:
            CallsUsedUpError: The wait would be too long for a set-up.
        """

    def claim_call(self) -> bool:
        """Return whether a call may be made now, and count it if so.

        When not, the scheduler polls by itself as soon as the call is allowed.
        """

    def observe_reply(self, now: float, facts: ReplyFacts) -> None:
        """Learn from a successful reply and plan the next poll."""

    def observe_failure(
        self, now: float, failure: Failure, retry_after: float | None
    ) -> float | None:
        """Learn from a failed call, plan the next poll (none after AUTH).

        Args:
            now: When the call failed (UNIX time).
            failure: How the failure changes polling.
            retry_after: How long the cloud asked to wait (s), if it did.

        Returns:
            Seconds until the account calls again, for a rate limit; else None.
        """

    def stop(self) -> None:
        """Stop polling for good (the entry unloads)."""

    def diagnostics(self) -> dict[str, Any]:
        """Return the scheduling state, for the diagnostics download."""


def _now() -> float:
    return dt_util.utcnow().timestamp()


class PollTimer:
    """One timer that runs an action at a planned instant; `stop` disarms it for good."""

    def __init__(self, hass: HomeAssistant, action: Callable[[], None]) -> None:
        """Run ``action`` (a callback) whenever an armed instant comes."""
        self._hass = hass
        self._action = action
        self._unsub: CALLBACK_TYPE | None = None
        self._stopped = False

    def arm(self, when: float) -> None:
        """Run the action at ``when`` (UNIX time; at once if past), instead of before."""
        self.cancel()
        if self._stopped:
            return
        self._unsub = async_call_later(
            self._hass,
            max(when - _now(), 0.0),
            HassJob(self._fire, cancel_on_shutdown=True),
        )

    def cancel(self) -> None:
        """Disarm until armed again."""
        if self._unsub is not None:
            self._unsub()
            self._unsub = None

    def stop(self) -> None:
        """Disarm for good: later `arm` calls do nothing."""
        self._stopped = True
        self.cancel()

    @callback
    def _fire(self, _now: datetime) -> None:
        self._unsub = None
        self._action()


class AdaptiveScheduler:
    """Polls just after each expected upload, within the account's call budget."""

    def __init__(
        self,
        hass: HomeAssistant,
        account: str,
        wifi_sn: str,
        poll: Callable[[], None],
    ) -> None:
        """Join the account's budget; ``poll`` starts a refresh (a callback)."""
        self._hass = hass
        self._account = account
        self._wifi_sn = wifi_sn
        self._poll = poll
        self._registry = hass.data[DATA_BUDGETS]
        self.budget = self._registry.join(account, wifi_sn)
        self.policy = UploadPolicy()
        self._timer = PollTimer(hass, self._on_timer)
        # The next call the policy wants (UNIX time); None until it planned one.
        self._wanted: float | None = None
        self._first_turn = False
        self._plant_keeps_our_time = True
        self._last_plan: float | None = None

    @property
    def cadence(self) -> float:
        """Return the upload period the policy learnt (s)."""
        return self.policy.cadence

    async def async_wait_first_turn(self) -> None:
        """Wait for the budget's turn before the first call: entries do not burst."""
        while True:
            now = _now()
            granted = self._granted_now(now)
            if granted <= now + TIMER_SLACK:
                self._first_turn = True
                return
            if granted - now > SETUP_WAIT_MAX:
                raise CallsUsedUpError(
                    granted, paused=self.budget.paused_until >= granted - TIMER_SLACK
                )
            await asyncio.sleep(granted - now)

    def claim_call(self) -> bool:
        """Return whether the budget lets a call through now, and count it if so."""
        now = _now()
        if not self._first_turn and (granted := self._granted_now(now)) > (
            now + TIMER_SLACK
        ):
            # A manual refresh beyond the account's budget: the poll comes when
            # the budget allows it.
            self._timer.arm(granted)
            return False
        self._first_turn = False
        self.budget.record_call(now, self._wifi_sn)
        self._registry.async_schedule_save()
        return True

    def observe_reply(self, now: float, facts: ReplyFacts) -> None:
        """Learn from a reply; the account's rate-limit escalation starts over."""
        self.budget.reset_rate_limit_escalation()
        async_clear_rate_limited(self._hass, self._account)
        self._plant_keeps_our_time = facts.plant_keeps_our_time
        self.policy.observe_record(now, facts.upload_ts, asleep=facts.asleep)
        self._plan()

    def observe_failure(
        self, now: float, failure: Failure, retry_after: float | None
    ) -> float | None:
        """Back off; a rate limit pauses the whole account (a repair issue if it lasts)."""
        if failure is Failure.AUTH:
            # Nothing to poll until the user re-authenticates (the entry reloads).
            self._timer.cancel()
            return None
        waited: float | None = None
        if failure is Failure.RATE_LIMITED:
            paused_until = self.budget.pause_for_rate_limit(now, retry_after)
            self.policy.observe_error(now, rate_limited=True)
            if self.budget.rate_limit_persists:
                async_raise_rate_limited(
                    self._hass,
                    self._account,
                    self.budget.inverters,
                    self.budget.consecutive_rate_limits,
                    dt_util.utc_from_timestamp(paused_until),
                )
            waited = max(paused_until - now, 0.0)
        else:
            self.budget.reset_rate_limit_escalation()
            self.policy.observe_error(now)
        self._plan()
        return waited

    def stop(self) -> None:
        """Stop polling and leave the account's budget (freed with its last inverter)."""
        self._timer.stop()
        if self._registry.leave(self._account, self._wifi_sn):
            async_clear_rate_limited(self._hass, self._account)

    def diagnostics(self) -> dict[str, Any]:
        """Return the policy's and the budget's state."""
        return {
            "policy": self.policy.diagnostics(),
            "budget": self.budget.usage(_now())
            | {"inverters": len(self.budget.inverters)},
        }

    def _granted_now(self, now: float) -> float:
        """Return when the budget lets the call the policy wants by now be made."""
        wanted = now if self._wanted is None else min(self._wanted, now)
        return self.budget.reserve(
            now, self._wifi_sn, wanted, self.policy.staleness_priority(now)
        )

    def _plan(self) -> None:
        """Ask the policy when the next record is due and the budget when to ask."""
        now = _now()
        if self._last_plan is not None and now < self._last_plan - CLOCK_STEP:
            # The host clock stepped back: what the policy learnt is in the future.
            self.policy = UploadPolicy()
        self._last_plan = now
        if self._plant_keeps_our_time:
            self.policy.set_daylight_hint(
                sun.get_astral_event_next(self._hass, SUN_EVENT_SUNRISE).timestamp(),
                sun.is_up(self._hass),
                sun.get_astral_event_next(self._hass, SUN_EVENT_SUNSET).timestamp(),
            )
        else:
            # The plant keeps another zone's time: Home Assistant's sun is not its.
            self.policy.set_daylight_hint(None, sun.is_up(self._hass))
        self.policy.set_thrifty(self.budget.under_pressure)
        self._wanted = max(self.policy.next_poll(now), self.budget.paused_until)
        self._timer.arm(
            self.budget.reserve(
                now, self._wifi_sn, self._wanted, self.policy.staleness_priority(now)
            )
        )

    @callback
    def _on_timer(self) -> None:
        """Poll when the budget still agrees; its plan may have moved since."""
        now = _now()
        if (granted := self._granted_now(now)) > now + TIMER_SLACK:
            self._timer.arm(granted)
            return
        self._poll()
