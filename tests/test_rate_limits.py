"""The account's limits hold, from every path, across set-up retries, reloads and steps.

Issue 13, "Rate limits and lock-outs": the lock-out reply pauses the account for the
hour it announces (across set-up retries and a reload), HTTP 429's Retry-After is
honoured, config-flow checks count against the account's limits, and a stored call
history that cannot be true (a year ahead, 1e308) or a host clock stepping back does
not keep polling from going on. What the cloud sees is counted over loopback.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_TOKEN, EVENT_HOMEASSISTANT_FINAL_WRITE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.sunvec.api import normalize_api_address
from custom_components.sunvec.budget_registry import (
    DATA_BUDGETS,
    STORAGE_KEY,
    account_key,
)
from custom_components.sunvec.const import (
    CONF_ACCOUNT,
    CONF_API_ADDRESS,
    CONF_WIFI_SN,
    DOMAIN,
)
from sunvec_simulator import DEMO_TOKEN, Fault, InverterKind, SunvecCloud

from .conftest import simulated_entry
from .field_cloud import (
    FieldCloud,
    assert_no_traceback,
    max_calls_in_window,
    our_lines,
    run_until,
    settle,
)
from .test_data_quality import GRID_TIED, HYBRID, add_inverter, entity_id

HOUR = timedelta(hours=1)


async def test_a_lockout_at_setup_lasts_the_hour_across_retries_and_a_reload(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    cloud_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Locked out at set-up: one call in the hour, whatever retries and reloads."""
    hass = hass_at_plant
    cloud.set_fault(Fault.LOCKOUT)  # the cloud refuses the token until cleared
    entry = simulated_entry(cloud_url, HYBRID)
    entry.add_to_hass(hass)
    locked_at = dt_util.utcnow()
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert cloud.requests_served[DEMO_TOKEN] == 1

    # Home Assistant retries the set-up every few seconds to minutes.
    await run_until(hass, freezer, locked_at + timedelta(minutes=20))
    assert entry.state is ConfigEntryState.SETUP_RETRY
    until = dt_util.as_local(locked_at + HOUR).strftime("%H:%M")
    assert f"paused calls for this token until about {until}" in (entry.reason or "")
    await hass.config_entries.async_reload(entry.entry_id)
    await settle(hass)
    await run_until(hass, freezer, locked_at + timedelta(minutes=59))
    # Not loaded: retried later, or waiting for the end of the pause (at most 10 min).
    assert entry.state in (
        ConfigEntryState.SETUP_RETRY,
        ConfigEntryState.SETUP_IN_PROGRESS,
    )
    assert cloud.requests_served[DEMO_TOKEN] == 1, "called into the lock-out"

    cloud.clear_faults()
    await run_until(hass, freezer, locked_at + timedelta(minutes=75))
    assert entry.state is ConfigEntryState.LOADED
    assert hass.states.get(entity_id(hass, HYBRID, "ac_power")).state != "unavailable"
    assert_no_traceback(caplog)


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param({}, id="code_and_words"),
        pytest.param({"exception": "Operation failed"}, id="code_alone"),
        pytest.param({"code": None}, id="words_alone"),
    ],
)
async def test_a_lockout_while_polling_pauses_the_whole_account(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    field_cloud: FieldCloud,
    caplog: pytest.LogCaptureFixture,
    reply: dict[str, Any],
) -> None:
    """Two inverters on the token: after the lock-out reply, neither calls for the hour.

    The lock-out is recognised by its code (1) or by its words, either alone.
    """
    hass = hass_at_plant
    for wifi_sn in (HYBRID, GRID_TIED):
        await add_inverter(hass, simulated_entry(field_cloud.url, wifi_sn))
        freezer.tick(7)
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=10))
    cloud.set_fault(Fault.LOCKOUT, **reply)
    start = dt_util.utcnow()
    await run_until(hass, freezer, start + timedelta(minutes=10))
    refused = field_cloud.calls_between(start, dt_util.utcnow())
    assert len(refused) == 1
    locked_at = refused[0].at

    await run_until(hass, freezer, locked_at + HOUR - timedelta(seconds=30))
    assert field_cloud.calls_between(start, dt_util.utcnow()) == refused
    cloud.clear_faults()
    await run_until(hass, freezer, locked_at + HOUR + timedelta(minutes=15))
    after = field_cloud.calls_between(locked_at + HOUR, dt_util.utcnow())
    assert {call.wifi_sn for call in after} == {HYBRID, GRID_TIED}
    for wifi_sn in (HYBRID, GRID_TIED):
        state = hass.states.get(entity_id(hass, wifi_sn, "ac_power")).state
        assert state != "unavailable", wifi_sn
    assert_no_traceback(caplog)


@pytest.mark.parametrize("http_date", [False, True])
async def test_http_429_retry_after_is_honoured(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    field_cloud: FieldCloud,
    http_date: bool,
) -> None:
    """HTTP 429 with Retry-After 900 s: no call for 15 minutes, then polling goes on."""
    hass = hass_at_plant
    await add_inverter(hass, simulated_entry(field_cloud.url, HYBRID))
    freezer.tick(1)
    cloud.set_fault(Fault.HTTP_429, count=1, retry_after=900, http_date=http_date)
    start = dt_util.utcnow()
    await run_until(hass, freezer, start + timedelta(minutes=10))
    refused = field_cloud.calls_between(start, dt_util.utcnow())
    assert len(refused) == 1
    await run_until(hass, freezer, refused[0].at + timedelta(minutes=25))

    later = field_cloud.calls_between(
        refused[0].at + timedelta(seconds=1), dt_util.utcnow()
    )
    assert later, "polling did not go on"
    assert later[0].at - refused[0].at >= timedelta(seconds=900)
    assert later[0].at - refused[0].at < timedelta(seconds=900 + 120)
    assert hass.states.get(entity_id(hass, HYBRID, "ac_power")).state != "unavailable"


async def _configure(hass: HomeAssistant, account: str, wifi_sn: str) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "existing_account"}
    )
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ACCOUNT: account, CONF_WIFI_SN: wifi_sn}
    )


async def tick_until_done(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, task: asyncio.Task[Any]
) -> Any:
    """Let virtual time pass in seconds until a task that waits for it is done.

    The task (a set-up or a config flow waiting for the account's turn) must not be
    one Home Assistant tracks: `hass.async_block_till_done` would wait for it in
    frozen time. Polls in flight are given their loopback I/O. Up to half an hour:
    fifty inverters that poll share the account's minute limit with their own
    set-ups, which takes them about a quarter of an hour.
    """
    for _ in range(1800):
        if task.done():
            break
        freezer.tick(1)
        async_fire_time_changed(hass)
        # Enough turns of the loop for what a second of real time would do.
        for _ in range(100):
            await asyncio.sleep(0)
            if task.done():
                break
    assert task.done(), "still waiting after half an hour"
    return await task


async def test_three_inverters_added_while_fifty_poll_keep_the_minute_limit(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    field_cloud: FieldCloud,
) -> None:
    """Config-flow checks count against the account: never ten calls in a minute."""
    hass = hass_at_plant
    polling = [f"SVLOAD{n:03d}" for n in range(50)]
    added = [f"SVADD{n:03d}" for n in range(3)]
    for wifi_sn in polling + added:
        cloud.add_inverter(DEMO_TOKEN, wifi_sn, kind=InverterKind.HYBRID)
    entries = [simulated_entry(field_cloud.url, wifi_sn) for wifi_sn in polling]
    for entry in entries:
        entry.add_to_hass(hass)
    setup = asyncio.create_task(async_setup_component(hass, DOMAIN, {}))
    assert await tick_until_done(hass, freezer, setup)
    assert all(entry.state is ConfigEntryState.LOADED for entry in entries)
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=10))

    flows = [
        asyncio.create_task(_configure(hass, entries[0].entry_id, wifi_sn))
        for wifi_sn in added
    ]
    results = [await tick_until_done(hass, freezer, flow) for flow in flows]
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=10))

    calls = field_cloud.calls_to()
    assert {call.wifi_sn for call in calls} >= set(added)
    assert max_calls_in_window([c.at for c in calls], timedelta(seconds=60)) <= 9
    assert cloud.requests_rate_limited[DEMO_TOKEN] == 0
    assert [result["type"] for result in results] == [FlowResultType.CREATE_ENTRY] * 3


async def test_a_config_flow_check_does_not_call_into_a_pause(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    field_cloud: FieldCloud,
) -> None:
    """The account is locked out: the form says so, and the cloud gets no call."""
    hass = hass_at_plant
    entry = simulated_entry(field_cloud.url, HYBRID)
    await add_inverter(hass, entry)
    cloud.set_fault(Fault.LOCKOUT)
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=10))
    calls = len(field_cloud.calls_to())

    flow = asyncio.create_task(_configure(hass, entry.entry_id, GRID_TIED))
    result = await tick_until_done(hass, freezer, flow)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "rate_limited"}
    assert len(field_cloud.calls_to()) == calls


def _stored_history(entry: MockConfigEntry, value: dict[str, Any]) -> dict[str, Any]:
    key = account_key(
        normalize_api_address(entry.data[CONF_API_ADDRESS]), entry.data[CONF_TOKEN]
    )
    return {"version": 1, "key": STORAGE_KEY, "data": {key: value}}


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param(lambda now: {"calls": [now + 365 * 86400.0] * 9}, id="year_ahead"),
        pytest.param(lambda now: {"calls": [1e308, now - 60.0]}, id="1e308"),
        pytest.param(
            lambda now: {
                "calls": [now - 60.0],
                "pause": {
                    "until": 1e308,
                    "length": 1e308,
                    "rate_limits": 10**400,
                    "last_pause": -1,
                },
            },
            id="pause_1e308",
        ),
        pytest.param(
            lambda now: {
                "calls": [],
                "pause": {
                    "until": now + 365 * 86400.0,
                    "length": 3600.0,
                    "rate_limits": 4,
                    "last_pause": 3600.0,
                },
            },
            id="pause_year_ahead",
        ),
    ],
)
async def test_a_stored_call_history_that_cannot_be_true_is_dropped(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
    cloud: SunvecCloud,
    cloud_url: str,
    caplog: pytest.LogCaptureFixture,
    stored: Any,
) -> None:
    """Calls or a pause a year ahead, or 1e308: set up at once, with one warning."""
    hass = hass_at_plant
    entry = simulated_entry(cloud_url, HYBRID)
    hass_storage[STORAGE_KEY] = _stored_history(
        entry, stored(dt_util.utcnow().timestamp())
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert cloud.requests_served[DEMO_TOKEN] == 1
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=30))
    assert cloud.requests_served[DEMO_TOKEN] >= 5
    warnings = our_lines(caplog, logging.WARNING)
    assert len(warnings) == 1, [w.getMessage() for w in warnings]
    assert "stored call history" in warnings[0].getMessage()
    assert_no_traceback(caplog)


async def test_a_host_clock_step_back_costs_at_most_one_spacing(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    field_cloud: FieldCloud,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The host clock steps back two hours: the planned poll comes, then the next ones.

    Timers run on the monotonic clock, which does not step; frozen time moves both,
    so the timers already armed are fired as the monotonic clock would.
    """
    hass = hass_at_plant
    await add_inverter(hass, simulated_entry(field_cloud.url, HYBRID))
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=30))
    before = len(field_cloud.calls_to())

    freezer.move_to(dt_util.utcnow() - timedelta(hours=2))
    stepped = dt_util.utcnow()
    async_fire_time_changed(hass, stepped + timedelta(hours=2, minutes=5))
    await settle(hass)
    await run_until(hass, freezer, stepped + timedelta(minutes=30))

    after = field_cloud.calls_to()[before:]
    assert after, "no call after the clock stepped back"
    assert after[0].at - stepped <= timedelta(seconds=6)
    # Polling goes on at the upload cadence (the records are two hours "old" now).
    assert len(after) >= 4
    assert_no_traceback(caplog)


async def test_a_restart_keeps_the_lockout(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
    cloud: SunvecCloud,
    cloud_url: str,
) -> None:
    """The pause is stored with the call history: a restart does not call into it."""
    hass = hass_at_plant
    entry = simulated_entry(cloud_url, HYBRID)
    await add_inverter(hass, entry)
    cloud.set_fault(Fault.LOCKOUT)
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=10))
    calls = cloud.requests_served[DEMO_TOKEN]
    assert await hass.config_entries.async_unload(entry.entry_id)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_FINAL_WRITE)
    await hass.async_block_till_done()
    assert "pause" in str(hass_storage[STORAGE_KEY])
    # Read back as at a start of Home Assistant.
    hass.data.pop(DATA_BUDGETS)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=30))
    assert cloud.requests_served[DEMO_TOKEN] == calls


async def test_a_lockout_seen_by_a_config_flow_check_pauses_the_account(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    field_cloud: FieldCloud,
) -> None:
    """The check of a new inverter gets the lock-out: the account's polls wait too.

    So does the check when the user submits the form again.
    """
    hass = hass_at_plant
    entry = simulated_entry(field_cloud.url, HYBRID)
    await add_inverter(hass, entry)
    freezer.tick(30)
    cloud.set_fault(Fault.LOCKOUT)
    flow = asyncio.create_task(_configure(hass, entry.entry_id, GRID_TIED))
    result = await tick_until_done(hass, freezer, flow)
    assert result["errors"] == {"base": "rate_limited"}
    checked = field_cloud.calls_to()[-1]
    assert checked.wifi_sn == GRID_TIED

    await run_until(hass, freezer, checked.at + timedelta(minutes=30))
    again = asyncio.create_task(
        hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_ACCOUNT: entry.entry_id, CONF_WIFI_SN: GRID_TIED}
        )
    )
    result = await tick_until_done(hass, freezer, again)
    assert result["errors"] == {"base": "rate_limited"}
    await run_until(hass, freezer, checked.at + HOUR - timedelta(seconds=30))
    assert field_cloud.calls_to()[-1] == checked, "called into the lock-out"

    cloud.clear_faults()
    await run_until(hass, freezer, checked.at + HOUR + timedelta(minutes=10))
    assert field_cloud.calls_to()[-1].at > checked.at + HOUR
