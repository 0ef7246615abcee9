"""The registry of the accounts' call budgets, with their calls kept across restarts.

Every entry polled with the same API address and token joins one `TokenBudget`; the
last one to leave frees it. The cloud counts a token's calls over a day whatever Home
Assistant does in between, so a budget that starts after a restart, or after a reload
that freed it, starts from the calls it remembers: the daily limit holds across both.

The store holds, per account key (`account_key`: a digest of API address and token,
never the token), the UNIX times of the calls of the last 24 hours and the account's
rate-limit pause, if any.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
import hashlib
import math
from typing import Any, Literal

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .budget import DAY, FUTURE_SLACK, PAUSE_MAX, PauseState, TokenBudget
from .const import DOMAIN, LOGGER, TIMER_SLACK

STORAGE_KEY = f"{DOMAIN}.call_history"
STORAGE_VERSION = 1
# Calls are written at most this often (and when Home Assistant stops).
SAVE_DELAY = 60.0

DATA_BUDGETS: HassKey[BudgetRegistry] = HassKey(f"{DOMAIN}_budgets")


def account_key(api_address: str, token: str) -> str:
    """Return the key of an account's budget: a digest, never the token itself."""
    return hashlib.sha256(f"{api_address}\n{token}".encode()).hexdigest()[:16]


@dataclass(slots=True)
class _Kept:
    """What the registry keeps of an account whose budget is not running."""

    calls: list[float] = field(default_factory=list)
    pause: PauseState | None = None


class BudgetRegistry:
    """The running budgets by account key, and what every account's calls were."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Create the registry; load it with `async_load` before the first budget."""
        self._store: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, STORAGE_KEY)
        self._lock = asyncio.Lock()
        self._loaded = False
        # Calls and pauses of the budgets not running now, by account key.
        self._kept: dict[str, _Kept] = {}
        self._budgets: dict[str, TokenBudget] = {}

    @property
    def budgets(self) -> Mapping[str, TokenBudget]:
        """Return the running budgets by key."""
        return self._budgets

    async def async_load(self) -> None:
        """Read the stored calls (once; later calls return at once)."""
        async with self._lock:
            if self._loaded:
                return
            self._kept = _valid(
                await self._store.async_load(), dt_util.utcnow().timestamp()
            )
            self._loaded = True

    def join(self, key: str, inverter_id: str) -> TokenBudget:
        """Return the budget of ``key`` with the inverter in it.

        A budget that is not running starts with the calls made before, and in the
        pause it was in: a lock-out survives set-up retries and reloads.
        """
        if (budget := self._budgets.get(key)) is None:
            kept = self._kept.pop(key, _Kept())
            budget = TokenBudget(history=kept.calls, pause=kept.pause)
            self._budgets[key] = budget
        budget.add_inverter(inverter_id)
        return budget

    @callback
    def leave(self, key: str, inverter_id: str) -> bool:
        """Take the inverter out of its budget; return whether that freed it.

        The calls and the pause of a freed budget are kept for when it starts again.
        """
        budget = self._budgets[key]
        budget.remove_inverter(inverter_id)
        if budget.inverters:
            return False
        del self._budgets[key]
        self._kept[key] = _Kept(
            budget.recent_calls(dt_util.utcnow().timestamp()), budget.pause_state()
        )
        self.async_schedule_save()
        return True

    async def async_wait_for_call(self, key: str, caller: str, max_wait: float) -> bool:
        """Wait for a call of the account's budget (a config flow's check); count it.

        The caller goes before the polls that wait (`TokenBudget.earliest_call`).
        Returns False, without a call, when the budget has none within ``max_wait``
        seconds (a pause, a busy account): every call on a token counts, from any
        path.
        """
        budget = self.join(key, caller)
        try:
            while True:
                now = dt_util.utcnow().timestamp()
                granted = budget.earliest_call(now)
                if granted <= now + TIMER_SLACK:
                    budget.record_call(now)
                    self.async_schedule_save()
                    return True
                if granted - now > max_wait:
                    return False
                await asyncio.sleep(granted - now)
        finally:
            self.leave(key, caller)

    @callback
    def pause_for_rate_limit(self, key: str, retry_after: float) -> None:
        """Pause the account for a wait the cloud asked for outside polling.

        A config flow's check that gets a lock-out (or HTTP 429 with Retry-After):
        the account's inverters, and the next check, wait for it as after a poll.
        """
        caller = "rate-limited check"
        self.join(key, caller).pause_for_rate_limit(
            dt_util.utcnow().timestamp(), retry_after
        )
        self.leave(key, caller)
        self.async_schedule_save()

    @callback
    def async_schedule_save(self) -> None:
        """Write the calls a little later (batched), or when Home Assistant stops."""
        self._store.async_delay_save(self._data_to_save, SAVE_DELAY)

    @callback
    def _data_to_save(self) -> dict[str, Any]:
        now = dt_util.utcnow().timestamp()
        kept = {
            key: _Kept([at for at in kept.calls if at > now - DAY], kept.pause)
            for key, kept in self._kept.items()
        }
        kept |= {
            key: _Kept(budget.recent_calls(now), budget.pause_state())
            for key, budget in self._budgets.items()
        }
        return {
            key: {"calls": kept.calls}
            | ({} if kept.pause is None else {"pause": asdict(kept.pause)})
            for key, kept in kept.items()
            if kept.calls or (kept.pause is not None and kept.pause.until > now)
        }


def _valid(stored: Any, now: float) -> dict[str, _Kept]:
    """Return the part of what the store held that can be true.

    Calls and pauses later than now cannot have been made (a store written by a
    clock in the future, or damaged): they are dropped with one warning.
    """
    if stored is None:
        return {}
    if not isinstance(stored, Mapping):
        LOGGER.warning("Ignoring the stored call history: it is not a mapping")
        return {}
    valid: dict[str, _Kept] = {}
    future = False
    for key, value in stored.items():
        # Version 1 stored the calls alone; now the pause is kept with them.
        entry = {"calls": value} if isinstance(value, list) else value
        if not isinstance(key, str) or not isinstance(entry, Mapping):
            continue
        calls = entry.get("calls")
        times = sorted(
            float(at)
            for at in (calls if isinstance(calls, list) else [])
            if isinstance(at, int | float)
            and not isinstance(at, bool)
            and math.isfinite(at)
        )
        kept = [at for at in times if at <= now + FUTURE_SLACK]
        pause = _valid_pause(entry.get("pause"), now)
        future |= len(kept) < len(times) or pause is False
        valid[key] = _Kept(kept, pause or None)
    if future:
        LOGGER.warning(
            "Ignoring calls and pauses in the stored call history that lie in the "
            "future: they cannot have been made"
        )
    return valid


def _valid_pause(stored: Any, now: float) -> PauseState | Literal[False] | None:
    """Return a stored pause, None if there is none, False if it cannot be true."""
    if not isinstance(stored, Mapping):
        return None
    try:
        pause = PauseState(
            until=float(stored["until"]),
            length=float(stored["length"]),
            rate_limits=int(stored["rate_limits"]),
            last_pause=float(stored["last_pause"]),
        )
    except (KeyError, TypeError, ValueError, OverflowError):
        return None
    if not (
        0 <= pause.length <= PAUSE_MAX
        and 0 <= pause.last_pause <= PAUSE_MAX
        and pause.until - pause.length <= now + FUTURE_SLACK
        and pause.rate_limits >= 0
    ):
        return False
    return pause


async def async_get_budget_registry(hass: HomeAssistant) -> BudgetRegistry:
    """Return the loaded budget registry, shared by every entry."""
    registry = hass.data.get(DATA_BUDGETS)
    if registry is None:
        registry = hass.data[DATA_BUDGETS] = BudgetRegistry(hass)
    await registry.async_load()
    return registry
