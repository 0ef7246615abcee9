"""Polling that follows the uploads and shares one call budget per token."""

from __future__ import annotations

import asyncio
from datetime import timedelta
import itertools
import json
from typing import Any
from unittest.mock import AsyncMock

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    CONF_TOKEN,
    EVENT_HOMEASSISTANT_FINAL_WRITE,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.sunvec import polling
from custom_components.sunvec.api import SunvecRateLimitError, normalize_api_address
from custom_components.sunvec.budget_registry import (
    DATA_BUDGETS,
    SAVE_DELAY,
    STORAGE_KEY,
    account_key as make_account_key,
)
from custom_components.sunvec.const import CONF_API_ADDRESS, CONF_WIFI_SN, DOMAIN
from sunvec_simulator import DEMO_TOKEN, InverterKind, SunvecCloud

from .conftest import (
    EXAMPLE_NOW,
    TOKEN,
    assert_no_traceback_logged,
    example_record,
    simulated_entry,
)
from .test_data_quality import HYBRID, entity_id, record_states, run_until


def sibling(entry: MockConfigEntry, wifi_sn: str) -> MockConfigEntry:
    """Return another inverter's entry on the same account."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=wifi_sn,
        unique_id=wifi_sn,
        data={**entry.data, CONF_WIFI_SN: wifi_sn},
    )


async def five_inverters_set_up_together(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_get_realtime: AsyncMock,
    first: MockConfigEntry,
) -> tuple[list[MockConfigEntry], list[float]]:
    """Set up five inverters of one account as Home Assistant starts them.

    Returns the entries and the list that records the time of every call (so far
    the five first ones), which goes on recording.
    """
    freezer.move_to(EXAMPLE_NOW)
    entries = [first, *(sibling(first, f"SUT{n}") for n in range(4))]
    calls: list[float] = []

    async def record_call(*_: object) -> object:
        calls.append(dt_util.utcnow().timestamp())
        return example_record()

    mock_get_realtime.side_effect = record_call
    for entry in entries:
        entry.add_to_hass(hass)
    setup = hass.async_create_task(async_setup_component(hass, DOMAIN, {}))
    # The set-up waits for the budget's turns: let time pass second by second.
    for _ in range(60):
        freezer.tick(1)
        async_fire_time_changed(hass)
        for _ in range(20):
            await asyncio.sleep(0)
    assert await setup
    await hass.async_block_till_done()
    return entries, calls


async def test_polls_follow_the_uploads(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    cloud_url: str,
) -> None:
    """Over two daytime hours: about one call per new record, seen within seconds."""
    hass = hass_at_plant
    entry = simulated_entry(cloud_url, HYBRID)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    last_upload = entity_id(hass, HYBRID, "last_upload")
    start = dt_util.utcnow()
    seen = record_states(hass, [last_upload])
    await run_until(hass, freezer, start + timedelta(hours=2), timedelta(seconds=1))
    lags = [
        (state.last_changed - dt_util.parse_datetime(state.state)).total_seconds()
        for state in seen[last_upload]
    ]

    uploads = [u for u in cloud.inverter(HYBRID).uploads() if u.available_at > start]
    calls = cloud.requests_served[DEMO_TOKEN] - 1
    assert len(uploads) >= 20
    assert calls <= 1.5 * len(uploads)
    assert len(lags) >= len(uploads) - 1
    assert sorted(lags)[len(lags) // 2] <= 15


async def test_entries_of_one_token_share_a_budget(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_get_realtime: AsyncMock,
    mock_config_entry: MockConfigEntry,
) -> None:
    """Entries starting together are spread out, share one budget, and free it."""
    entries, calls = await five_inverters_set_up_together(
        hass, freezer, mock_get_realtime, mock_config_entry
    )
    assert all(entry.state is ConfigEntryState.LOADED for entry in entries)
    assert len(calls) == 5
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert min(gaps) >= 6
    budgets = hass.data[DATA_BUDGETS].budgets
    assert len(budgets) == 1
    assert len(next(iter(budgets.values())).inverters) == 5

    assert await hass.config_entries.async_reload(entries[0].entry_id)
    assert len(next(iter(budgets.values())).inverters) == 5
    for entry in entries:
        assert await hass.config_entries.async_unload(entry.entry_id)
    assert budgets == {}


async def test_manual_refreshes_poll_within_the_budget(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_get_realtime: AsyncMock,
    mock_config_entry: MockConfigEntry,
) -> None:
    """update_entity polls at once, but never past the account's limit.

    Home Assistant lets one entity refresh its coordinator every 10 s at most; five
    inverters of one account asked every 2 s would make 30 calls a minute.
    """
    assert await async_setup_component(hass, "homeassistant", {})
    entries, calls = await five_inverters_set_up_together(
        hass, freezer, mock_get_realtime, mock_config_entry
    )
    calls.clear()
    targets = {
        "entity_id": [
            entity_id(hass, entry.data[CONF_WIFI_SN], "ac_power") for entry in entries
        ]
    }
    start = dt_util.utcnow()
    for tick in range(1, 91):
        freezer.move_to(start + timedelta(seconds=2 * tick))
        async_fire_time_changed(hass)
        await hass.services.async_call(
            "homeassistant", "update_entity", targets, blocking=True
        )
    await hass.async_block_till_done()
    # Spaced as the budget spaces them, never more than 9 in a minute (plus the
    # budget's margin for time in flight), and as many as that allows.
    assert min(b - a for a, b in itertools.pairwise(calls)) >= 6.0
    assert max(sum(1 for t in calls if at - 63.0 < t <= at) for at in calls) <= 9
    assert len(calls) >= 24


@pytest.mark.usefixtures("init_integration")
async def test_rate_limit_pauses_and_raises_a_repair_issue(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_get_realtime: AsyncMock,
    issue_registry: ir.IssueRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Rate-limit replies pause the token longer each time; a repair issue if it persists."""
    mock_get_realtime.side_effect = SunvecRateLimitError(
        "current minute > threshold", 104
    )
    calls_before = mock_get_realtime.await_count
    caplog.clear()
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=30))
    refused = mock_get_realtime.await_count - calls_before
    assert 2 <= refused <= 4
    issues = [i for i in issue_registry.issues.values() if i.domain == DOMAIN]
    assert [issue.translation_key for issue in issues] == ["rate_limited"]
    warnings = [
        r
        for r in caplog.records
        if r.name.startswith("custom_components.sunvec")
        and r.levelname in ("WARNING", "ERROR")
    ]
    assert len(warnings) == 1

    mock_get_realtime.side_effect = None
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(hours=2))
    assert not [
        issue
        for issue in issue_registry.issues.values()
        if issue.translation_key == "rate_limited"
    ]


def account_key(entry: MockConfigEntry) -> str:
    """Return the budget key of an entry's account, as the coordinator makes it."""
    return make_account_key(
        normalize_api_address(entry.data[CONF_API_ADDRESS]), entry.data[CONF_TOKEN]
    )


async def test_the_day_s_calls_survive_a_reload_and_a_restart(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
    init_integration: MockConfigEntry,
    mock_get_realtime: AsyncMock,
) -> None:
    """The cloud counts a token's calls over a day; so does the budget, across both."""
    entry = init_integration
    key = account_key(entry)
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(hours=1))
    made = mock_get_realtime.await_count
    assert made >= 10
    # Written within a minute of the calls, by key: no token in the store.
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(seconds=SAVE_DELAY))
    stored = hass_storage[STORAGE_KEY]["data"]
    assert list(stored) == [key]
    assert len(stored[key]["calls"]) == made
    assert TOKEN not in json.dumps(hass_storage[STORAGE_KEY])

    # A reload frees the budget with the entry and starts it again with its calls.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    budget = hass.data[DATA_BUDGETS].budgets[key]
    now = dt_util.utcnow().timestamp()
    assert len(budget.recent_calls(now)) == made + 1

    # After a restart (written when Home Assistant stops, read back), the same.
    assert await hass.config_entries.async_unload(entry.entry_id)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_FINAL_WRITE)
    await hass.async_block_till_done()
    hass.data.pop(DATA_BUDGETS)
    freezer.tick(7)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    budget = hass.data[DATA_BUDGETS].budgets[key]
    assert len(budget.recent_calls(now + 7)) == made + 2


async def test_a_used_up_day_makes_setup_retry_later(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
    mock_config_entry: MockConfigEntry,
    mock_get_realtime: AsyncMock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Restarted after a day at the cloud's limit: no call until calls leave the day."""
    freezer.move_to(EXAMPLE_NOW)
    now = dt_util.utcnow().timestamp()
    # The whole allowance spent over the last 22 hours, and some malformed entries.
    calls: list[Any] = [now - 22 * 3600 + 8 * i for i in range(9_990)]
    hass_storage[STORAGE_KEY] = {
        "version": 1,
        "key": STORAGE_KEY,
        "data": {
            account_key(mock_config_entry): [*calls, "soon", None, float("nan")],
            "other": "not a list",
        },
    }
    mock_config_entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(mock_config_entry.entry_id)
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    assert mock_get_realtime.await_count == 0
    assert "daily call limit for this token is used up until about" in caplog.text
    assert_no_traceback_logged(caplog)


async def test_an_unreadable_call_history_is_ignored_with_a_warning(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
    mock_config_entry: MockConfigEntry,
    mock_get_realtime: AsyncMock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A store that is not what we wrote: set-up goes on, as with no history."""
    freezer.move_to(EXAMPLE_NOW)
    hass_storage[STORAGE_KEY] = {"version": 1, "key": STORAGE_KEY, "data": [1, 2]}
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    assert mock_get_realtime.await_count == 1
    assert "Ignoring the stored call history" in caplog.text


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_a_plant_in_another_zone_is_not_left_asleep_by_our_sun(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    cloud_url: str,
) -> None:
    """Home Assistant in Amsterdam, the plant in Tokyo: its morning is our evening."""
    hass = hass_at_plant
    tokyo = "SVTOKYO001"
    cloud.add_inverter(
        DEMO_TOKEN,
        tokyo,
        kind=InverterKind.GRID_TIED,
        timezone="Asia/Tokyo",
        latitude=35.68,
        longitude=139.69,
    )
    entry = simulated_entry(cloud_url, tokyo)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    last_upload = entity_id(hass, tokyo, "last_upload")
    seen = record_states(hass, [last_upload])
    start = dt_util.utcnow()
    await run_until(hass, freezer, start + timedelta(hours=36))
    # The Tokyo morning after the first whole day, while Amsterdam's sun is down.
    morning = next(
        upload
        for upload in cloud.inverter(tokyo).uploads()
        if upload.available_at > start + timedelta(hours=27)
    )
    assert morning.available_at.hour in range(18, 22)
    shown = next(
        (
            state.last_changed
            for state in seen[last_upload]
            if state.last_changed >= morning.available_at
            and state.state not in (STATE_UNAVAILABLE, STATE_UNKNOWN)
        ),
        None,
    )
    assert shown is not None, "the plant's morning was never shown"
    # Polled at the quiet rate (four an hour) rather than not at all.
    assert shown - morning.available_at <= timedelta(
        seconds=polling.QUIET_INTERVAL + 60
    )
