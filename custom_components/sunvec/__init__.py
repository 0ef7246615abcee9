"""The Sunvec Connect integration."""

from __future__ import annotations

from homeassistant.const import CONF_TOKEN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryError
from homeassistant.helpers import entity_registry as er

from .api import normalize_api_address, normalize_token
from .budget_registry import async_get_budget_registry
from .const import CONF_API_ADDRESS, CONF_WIFI_SN, DOMAIN, LOGGER
from .coordinator import SunvecConfigEntry, SunvecCoordinator
from .repairs import async_clear_not_uploading

PLATFORMS: list[Platform] = [Platform.BINARY_SENSOR, Platform.SENSOR]


async def async_setup_entry(hass: HomeAssistant, entry: SunvecConfigEntry) -> bool:
    """Set up one inverter from a config entry."""
    await async_get_budget_registry(hass)
    # A token or address that no check would have let through (edited by hand).
    try:
        normalize_token(entry.data[CONF_TOKEN])
    except ValueError as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN, translation_key="unusable_token"
        ) from err
    try:
        normalize_api_address(entry.data[CONF_API_ADDRESS])
    except ValueError as err:
        raise ConfigEntryError(
            translation_domain=DOMAIN, translation_key="unusable_address"
        ) from err
    coordinator = SunvecCoordinator(hass, entry)
    await coordinator.async_config_entry_first_refresh()
    entry.runtime_data = coordinator
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: SunvecConfigEntry) -> bool:
    """Unload a config entry."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: SunvecConfigEntry) -> None:
    """Withdraw the inverter's repair issue with it."""
    async_clear_not_uploading(hass, entry.data[CONF_WIFI_SN])


async def async_migrate_entry(hass: HomeAssistant, entry: SunvecConfigEntry) -> bool:
    """Bring an entry of an older version to this one.

    1.2: the Uploading binary sensor (off while the inverter sleeps, which read like
    a fault) is replaced by the Upload status sensor (uploading, asleep, not
    uploading).
    """
    if entry.version > 1:
        return False
    if entry.minor_version < 2:
        registry = er.async_get(hass)
        if entity_id := registry.async_get_entity_id(
            Platform.BINARY_SENSOR, DOMAIN, f"{entry.data[CONF_WIFI_SN]}_uploading"
        ):
            registry.async_remove(entity_id)
            LOGGER.info("%s is replaced by the Upload status sensor", entity_id)
        hass.config_entries.async_update_entry(entry, minor_version=2)
    return True
