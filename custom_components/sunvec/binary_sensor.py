"""Binary sensors of a Sunvec inverter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.binary_sensor import (  # type: ignore[attr-defined, unused-ignore]
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import SunvecConfigEntry
from .entity import SunvecEntity
from .models import FAULT_STATUSES, BatteryStatus
from .reply import SunvecData

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class SunvecBinarySensorEntityDescription(BinarySensorEntityDescription):
    """Describes a Sunvec binary sensor."""

    is_on_fn: Callable[[SunvecData], bool | None]


def _has_problem(data: SunvecData) -> bool | None:
    record = data.record
    if record.inverter_status is None and record.battery_status is None:
        return None
    return (
        record.inverter_status in FAULT_STATUSES
        or record.battery_status is BatteryStatus.FAULT
    )


BINARY_SENSORS: tuple[SunvecBinarySensorEntityDescription, ...] = (
    SunvecBinarySensorEntityDescription(
        key="problem",
        device_class=BinarySensorDeviceClass.PROBLEM,
        is_on_fn=_has_problem,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SunvecConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the inverter's binary sensors."""
    coordinator = entry.runtime_data
    async_add_entities(
        SunvecBinarySensorEntity(coordinator, description)
        for description in BINARY_SENSORS
    )


class SunvecBinarySensorEntity(SunvecEntity, BinarySensorEntity):
    """A binary sensor computed from the inverter's last record."""

    entity_description: SunvecBinarySensorEntityDescription

    @property
    def is_on(self) -> bool | None:
        """Return the state from the last record."""
        return self.entity_description.is_on_fn(self.coordinator.data)
