"""Entities and the entry's life: what one bad reply, a removal or an unload leaves.

Issue 13, "Entities and lifecycle": a first reply with nulls (or an empty result)
hides no value for good; the repair issues leave with their inverter; a refresh in
flight while the entry unloads arms no timer and keeps nothing alive; the Uploading
binary sensor of older versions is replaced by Upload status.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
import gc
import logging
from typing import Any
import weakref

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sunvec.const import CONF_WIFI_SN, DOMAIN
from sunvec_simulator import Fault, SunvecCloud

from .conftest import simulated_entry
from .field_cloud import FieldCloud, run_until, settle
from .test_data_quality import HYBRID, add_inverter, entity_id

# What the simulator's hybrid inverter reports (two strings, a battery, one EPS
# phase, no second meter), and the energies integrated from it.
HYBRID_VALUES = {
    "ac_power", "pv_power", "pv1_power", "pv2_power", "yield_today", "yield_total",
    "feed_in_power", "grid_export_power", "grid_import_power", "grid_export_energy",
    "grid_import_energy", "battery_soc", "battery_power", "battery_charge_power",
    "battery_discharge_power", "eps_a_power", "inverter_status",
    "inverter_status_code", "battery_status", "last_upload", "upload_state",
    "inverter_type", "pv_energy", "battery_charge_energy", "battery_discharge_energy",
    "home_consumption_power", "home_consumption_energy",
}  # fmt: skip
NOT_REPORTED = {"pv3_power", "pv4_power", "meter2_power", "eps_b_power", "eps_c_power"}


def sensors_of(
    hass: HomeAssistant, entry: MockConfigEntry
) -> dict[str, er.RegistryEntry]:
    """Return the entry's sensors in the entity registry, by key."""
    prefix = f"{entry.data[CONF_WIFI_SN]}_"
    return {
        registered.unique_id.removeprefix(prefix): registered
        for registered in er.async_entries_for_config_entry(
            er.async_get(hass), entry.entry_id
        )
        if registered.domain == Platform.SENSOR
    }


def empty_first_result(field_cloud: FieldCloud) -> None:
    """Answer the first success reply with an empty result object."""
    answered: list[bool] = []

    def rewrite(result: dict[str, Any]) -> dict[str, Any]:
        if answered:
            return result
        answered.append(True)
        return {}

    field_cloud.rewrite = rewrite


def null_first_values(field_cloud: FieldCloud) -> None:
    field_cloud.cloud.set_fault(Fault.NULL_VALUES, count=1)


@pytest.mark.parametrize("first_reply", [null_first_values, empty_first_result])
async def test_values_missing_in_the_first_reply_are_enabled_once_reported(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    field_cloud: FieldCloud,
    caplog: pytest.LogCaptureFixture,
    first_reply: Any,
) -> None:
    """A bad first reply hides nothing for good; what the user disabled stays so."""
    hass = hass_at_plant
    caplog.set_level(logging.INFO)
    first_reply(field_cloud)
    entry = simulated_entry(field_cloud.url, HYBRID)
    await add_inverter(hass, entry)
    sensors = sensors_of(hass, entry)
    hidden = {key for key, registered in sensors.items() if registered.disabled}
    assert {"ac_power", "yield_total", "battery_soc"} <= hidden
    # The user turns one of them off for good before it ever reports.
    registry = er.async_get(hass)
    registry.async_update_entity(
        sensors["battery_soc"].entity_id, disabled_by=er.RegistryEntryDisabler.USER
    )

    # The next upload has the values; Home Assistant reloads the entry 30 s later.
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=10))
    sensors = sensors_of(hass, entry)
    enabled = {key for key, registered in sensors.items() if not registered.disabled}
    assert enabled == HYBRID_VALUES - {"battery_soc"}
    assert sensors["battery_soc"].disabled_by is er.RegistryEntryDisabler.USER
    assert {key for key in NOT_REPORTED if not sensors[key].disabled} == set()
    assert entry.state is ConfigEntryState.LOADED
    for key in ("ac_power", "yield_total", "battery_power", "battery_charge_energy"):
        state = hass.states.get(entity_id(hass, HYBRID, key))
        assert state is not None, key
        assert state.state not in ("unavailable", "unknown"), key
    assert hass.states.get(sensors["battery_soc"].entity_id) is None


async def test_the_repair_issues_leave_with_their_inverter(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    cloud_url: str,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Not uploading for hours, then the entry is removed: its issue goes with it."""
    hass = hass_at_plant
    entry = simulated_entry(cloud_url, HYBRID)
    await add_inverter(hass, entry)
    cloud.set_fault(Fault.UPLOADS_STOPPED, wifi_sn=HYBRID)
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(hours=2, minutes=30))
    assert issue_registry.async_get_issue(DOMAIN, f"not_uploading_{HYBRID}")

    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert not [i for i in issue_registry.issues.values() if i.domain == DOMAIN]


async def test_the_rate_limit_issue_leaves_with_the_account_s_last_inverter(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    cloud_url: str,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Rate limits that persist raise an issue; removing the inverter withdraws it."""
    hass = hass_at_plant
    entry = simulated_entry(cloud_url, HYBRID)
    await add_inverter(hass, entry)
    cloud.set_fault(Fault.RATE_LIMITED)
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=30))
    assert [i.translation_key for i in issue_registry.issues.values()] == [
        "rate_limited"
    ]
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert not [i for i in issue_registry.issues.values() if i.domain == DOMAIN]


@pytest.mark.parametrize("in_flight", [False, True])
async def test_an_unloaded_entry_arms_no_timer_and_keeps_nothing_alive(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    field_cloud: FieldCloud,
    in_flight: bool,
) -> None:
    """A manual refresh in flight while the entry unloads: no poll after the unload."""
    hass = hass_at_plant
    assert await async_setup_component(hass, "homeassistant", {})
    entry = simulated_entry(field_cloud.url, HYBRID)
    await add_inverter(hass, entry)
    ac_power = entity_id(hass, HYBRID, "ac_power")
    coordinator = weakref.ref(entry.runtime_data)
    freezer.tick(10)  # past the account's spacing: the refresh may call at once

    calls = len(field_cloud.calls_to())
    if in_flight:
        field_cloud.hold = asyncio.Event()
        await hass.services.async_call(
            "homeassistant", "update_entity", {"entity_id": ac_power}, blocking=False
        )
        for _ in range(500):
            if len(field_cloud.calls_to()) > calls:
                break
            await asyncio.sleep(0)
        assert len(field_cloud.calls_to()) == calls + 1, "the refresh is not in flight"
    assert await hass.config_entries.async_unload(entry.entry_id)
    if in_flight:
        field_cloud.hold.set()
        field_cloud.hold = None
    await settle(hass)
    unloaded = len(field_cloud.calls_to())
    # No timer (nor anything else) holds the coordinator once it unloaded.
    gc.collect()
    assert coordinator() is None, gc.get_referrers(coordinator())

    await run_until(hass, freezer, dt_util.utcnow() + timedelta(hours=1))
    assert len(field_cloud.calls_to()) == unloaded, "polled after the unload"


async def test_the_uploading_binary_sensor_is_replaced_by_upload_status(
    hass_at_plant: HomeAssistant,
    cloud_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An entry of version 1.1: its Uploading binary sensor goes, Upload status comes."""
    hass = hass_at_plant
    caplog.set_level(logging.INFO)
    current = simulated_entry(cloud_url, HYBRID)
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=current.title,
        unique_id=current.unique_id,
        data=current.data,
        version=1,
        minor_version=1,
    )
    entry.add_to_hass(hass)
    registry = er.async_get(hass)
    old = registry.async_get_or_create(
        Platform.BINARY_SENSOR, DOMAIN, f"{HYBRID}_uploading", config_entry=entry
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()

    assert entry.minor_version == 2
    assert registry.async_get(old.entity_id) is None
    assert hass.states.get(old.entity_id) is None
    upload_state = hass.states.get(entity_id(hass, HYBRID, "upload_state"))
    assert upload_state is not None
    assert upload_state.state == "uploading"
    assert f"{old.entity_id} is replaced by the Upload status sensor" in caplog.text
