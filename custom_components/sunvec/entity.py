"""The base entity of the Sunvec Connect integration."""

from __future__ import annotations

from typing import Any

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN, MANUFACTURER, PORTAL_URL
from .coordinator import SunvecCoordinator


class SunvecEntity(CoordinatorEntity[SunvecCoordinator]):
    """An entity of one inverter, named after its translation key."""

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

    def async_entity_id_changed(self, *args: Any, **kwargs: Any) -> Any:
        """Pass a rename through to Home Assistant (2026.11+; never called before).

        Our sensors override ``async_added_to_hass`` to restore their memory;
        Home Assistant asks such entities to handle an entity id change too.
        """
        return super().async_entity_id_changed(*args, **kwargs)  # type: ignore[misc]
