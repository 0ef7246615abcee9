"""The registry of the accounts' call budgets, with their calls kept across restarts.

Every entry polled with the same API address and token joins one `TokenBudget`; the
last one to leave frees it. The cloud counts a token's calls over a day whatever Home
Assistant does in between, so a budget that starts after a restart, or after a reload
that freed it, starts from the calls it remembers: the daily limit holds across both.

The store holds, per account key (`account_key`: a digest of API address and token,
never the token), the UNIX times of the calls of the last 24 hours.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
import hashlib
import math
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .budget import DAY, TokenBudget
from .const import DOMAIN, LOGGER

STORAGE_KEY = f"{DOMAIN}.call_history"
STORAGE_VERSION = 1
# Calls are written at most this often (and when Home Assistant stops).
SAVE_DELAY = 60.0

DATA_BUDGETS: HassKey[BudgetRegistry] = HassKey(f"{DOMAIN}_budgets")


def account_key(api_address: str, token: str) -> str:
    """Return the key of an account's budget: a digest, never the token itself."""
    return hashlib.sha256(f"{api_address}\n{token}".encode()).hexdigest()[:16]


class BudgetRegistry:
    """The running budgets by account key, and the calls of every account."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Create the registry; load it with `async_load` before the first budget."""
        self._store: Store[dict[str, list[float]]] = Store(
            hass, STORAGE_VERSION, STORAGE_KEY
        )
        self._lock = asyncio.Lock()
        self._loaded = False
        # Calls of the budgets not running now, by budget key.
        self._kept: dict[str, list[float]] = {}
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
            self._kept = _valid_calls(await self._store.async_load())
            self._loaded = True

    def join(self, key: str, inverter_id: str) -> TokenBudget:
        """Return the budget of ``key`` with the inverter in it.

        A budget that is not running starts with the calls made before.
        """
        if (budget := self._budgets.get(key)) is None:
            budget = TokenBudget(history=self._kept.pop(key, ()))
            self._budgets[key] = budget
        budget.add_inverter(inverter_id)
        return budget

    @callback
    def leave(self, key: str, inverter_id: str) -> bool:
        """Take the inverter out of its budget; return whether that freed it.

        The calls of a freed budget are kept for when it starts again.
        """
        budget = self._budgets[key]
        budget.remove_inverter(inverter_id)
        if budget.inverters:
            return False
        del self._budgets[key]
        self._kept[key] = budget.recent_calls(dt_util.utcnow().timestamp())
        self.async_schedule_save()
        return True

    @callback
    def async_schedule_save(self) -> None:
        """Write the calls a little later (batched), or when Home Assistant stops."""
        self._store.async_delay_save(self._data_to_save, SAVE_DELAY)

    @callback
    def _data_to_save(self) -> dict[str, list[float]]:
        since = dt_util.utcnow().timestamp() - DAY
        data = {
            key: [at for at in calls if at > since] for key, calls in self._kept.items()
        }
        data.update(
            (key, budget.recent_calls(since + DAY))
            for key, budget in self._budgets.items()
        )
        return {key: calls for key, calls in data.items() if calls}


def _valid_calls(stored: Any) -> dict[str, list[float]]:
    """Return the well-formed part of what the store held."""
    if stored is None:
        return {}
    if not isinstance(stored, Mapping):
        LOGGER.warning("Ignoring the stored call history: it is not a mapping")
        return {}
    valid: dict[str, list[float]] = {}
    for key, calls in stored.items():
        if isinstance(key, str) and isinstance(calls, list):
            valid[key] = sorted(
                float(at)
                for at in calls
                if isinstance(at, (int, float))
                and not isinstance(at, bool)
                and math.isfinite(at)
            )
    return valid


async def async_get_budget_registry(hass: HomeAssistant) -> BudgetRegistry:
    """Return the loaded budget registry, shared by every entry."""
    registry = hass.data.get(DATA_BUDGETS)
    if registry is None:
        registry = hass.data[DATA_BUDGETS] = BudgetRegistry(hass)
    await registry.async_load()
    return registry
