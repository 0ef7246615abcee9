"""Entities of each simulated inverter kind, fed by the simulator over loopback."""

from __future__ import annotations

from unittest.mock import patch

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import snapshot_platform
from syrupy.assertion import SnapshotAssertion

from custom_components.sunvec.const import DOMAIN
from sunvec_simulator import DEMO_WIFI_SN

from .conftest import device_of_entry, simulated_entry

KINDS = {"hybrid": DEMO_WIFI_SN, "grid_tied": "SVDEMOGRD1", "three_phase": "SVDEMO3PH1"}


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("platform", [Platform.SENSOR, Platform.BINARY_SENSOR])
@pytest.mark.parametrize("kind", list(KINDS))
async def test_entities_of_each_inverter_kind(
    hass_at_plant: HomeAssistant,
    cloud_url: str,
    entity_registry: er.EntityRegistry,
    device_registry: dr.DeviceRegistry,
    snapshot: SnapshotAssertion,
    kind: str,
    platform: Platform,
) -> None:
    """Every entity of each kind, with its state at noon on a summer day."""
    hass = hass_at_plant
    entry = simulated_entry(cloud_url, KINDS[kind])
    entry.add_to_hass(hass)
    with patch("custom_components.sunvec.PLATFORMS", [platform]):
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()

    await snapshot_platform(hass, entity_registry, snapshot, entry.entry_id)
    device = device_of_entry(device_registry, entry, (DOMAIN, KINDS[kind]))
    assert device == snapshot(name="device")


@pytest.mark.parametrize(
    ("kind", "disabled"),
    [
        (
            "grid_tied",
            {
                "battery_soc", "battery_power", "battery_charge_power",
                "battery_discharge_power", "battery_status", "battery_charge_energy",
                "battery_discharge_energy", "meter2_power", "eps_a_power",
                "eps_b_power", "eps_c_power", "pv3_power", "pv4_power",
            },
        ),
        (
            "hybrid",
            {"meter2_power", "eps_b_power", "eps_c_power", "pv3_power", "pv4_power"},
        ),
    ],
)  # fmt: skip
async def test_values_the_inverter_lacks_start_disabled(
    hass_at_plant: HomeAssistant,
    cloud_url: str,
    entity_registry: er.EntityRegistry,
    kind: str,
    disabled: set[str],
) -> None:
    """Fields that are null on the first refresh give disabled entities."""
    hass = hass_at_plant
    entry = simulated_entry(cloud_url, KINDS[kind])
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    entities = er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    assert {
        entity.unique_id.removeprefix(f"{KINDS[kind]}_")
        for entity in entities
        if entity.disabled_by is not None
    } == disabled
