"""The base entity of the Sunvec Connect integration."""

from __future__ import annotations

from typing import Any

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN, LOGGER, MANUFACTURER, PORTAL_URL
from .coordinator import SunvecCoordinator


class SunvecEntity(CoordinatorEntity[SunvecCoordinator]):
    """An entity of one inverter, named after its translation key.

    Subclasses take the coordinator's data in `_update_from_data`. An entity that
    fails to (a bug, a value Home Assistant refuses) becomes unavailable, with one
    warning, and never stops the other entities' updates.
    """

    _update_failed = False

    _attr_has_entity_name = True

    def __init__(
        self, coordinator: SunvecCoordinator, description: EntityDescription
    ) -> None:
        """Attach the entity to the inverter's device."""
        super().__init__(coordinator)
        self.entity_description = description
        self._attr_unique_id = f"{coordinator.wifi_sn}_{description.key}"
        record = coordinator.data.record
        inverter_sn = record.inverter_sn or coordinator.wifi_sn
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, coordinator.wifi_sn)},
            manufacturer=MANUFACTURER,
            name=f"{MANUFACTURER} {inverter_sn}",
            model="Hybrid inverter" if record.has_battery else "Inverter",
            model_id=record.inverter_type,
            serial_number=record.inverter_sn,
            hw_version=(
                f"Wi-Fi module {record.wifi_module_sn}"
                if record.wifi_module_sn
                else None
            ),
            configuration_url=PORTAL_URL,
        )

    @property
    def available(self) -> bool:
        """Return False while the entity cannot show the data."""
        return super().available and not self._update_failed

    def _update_from_data(self) -> None:
        """Take the coordinator's data (a new reply, or the same with new facts)."""

    async def async_added_to_hass(self) -> None:
        """Show the data the coordinator has."""
        await super().async_added_to_hass()
        self._safely_update_from_data()

    @callback
    def _handle_coordinator_update(self) -> None:
        """Take the new data and write the state; a failure stops no other entity."""
        self._safely_update_from_data()
        try:
            self.async_write_ha_state()
        except Exception as err:  # noqa: BLE001 - the other entities go on
            self._note_failure(err)
            self.async_write_ha_state()

    def _safely_update_from_data(self) -> None:
        try:
            self._update_from_data()
        except Exception as err:  # noqa: BLE001 - the other entities go on
            self._note_failure(err)
        else:
            self._update_failed = False

    def _note_failure(self, err: Exception) -> None:
        if not self._update_failed:
            LOGGER.warning(
                "%s cannot show the inverter's data (%s: %s); it is unavailable "
                "until it can",
                self.entity_id,
                type(err).__name__,
                err,
            )
        self._update_failed = True

    def async_entity_id_changed(self, *args: Any, **kwargs: Any) -> Any:
        """Pass a rename through to Home Assistant (2026.11+; never called before).

        Our sensors override ``async_added_to_hass`` to restore their memory;
        Home Assistant asks such entities to handle an entity id change too.
        """
        return super().async_entity_id_changed(*args, **kwargs)  # type: ignore[misc]
