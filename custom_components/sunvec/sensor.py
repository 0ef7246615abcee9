"""Sensors of a Sunvec inverter: power, energy, battery, status and upload time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfEnergy, UnitOfPower
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .coordinator import SunvecConfigEntry, SunvecCoordinator, SunvecData
from .entity import SunvecEntity
from .models import BatteryStatus, InverterStatus, RealtimeData

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class SunvecSensorEntityDescription(SensorEntityDescription):
    """Describes a Sunvec sensor: how to read its value from the last record."""

    value_fn: Callable[[SunvecData], StateType | datetime]


def _record_value(
    read: Callable[[RealtimeData], float | str | None],
) -> Callable[[SunvecData], StateType | datetime]:
    return lambda data: read(data.record)


def _positive(value: float | None) -> float | None:
    return None if value is None else max(value, 0.0)


def _pv_power(record: RealtimeData) -> float | None:
    strings = [power for power in record.pv_power if power is not None]
    return sum(strings) if strings else None


def _pv_string_power(index: int) -> Callable[[RealtimeData], float | None]:
    return lambda record: record.pv_power[index]


def _eps_phase_power(index: int) -> Callable[[RealtimeData], float | None]:
    return lambda record: record.eps_power[index]


def _power(
    key: str, read: Callable[[RealtimeData], float | None]
) -> SunvecSensorEntityDescription:
    return SunvecSensorEntityDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=_record_value(read),
    )


def _energy(
    key: str, read: Callable[[RealtimeData], float | None], precision: int
) -> SunvecSensorEntityDescription:
    return SunvecSensorEntityDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=precision,
        value_fn=_record_value(read),
    )


SENSORS: tuple[SunvecSensorEntityDescription, ...] = (
    _power("ac_power", lambda record: record.ac_power),
    _power("pv_power", _pv_power),
    *(_power(f"pv{string + 1}_power", _pv_string_power(string)) for string in range(4)),
    _energy("yield_today", lambda record: record.yield_today, 1),
    _energy("yield_total", lambda record: record.yield_total, 1),
    _power("feed_in_power", lambda record: record.feed_in_power),
    _power("grid_export_power", lambda record: _positive(record.feed_in_power)),
    _power(
        "grid_import_power",
        lambda record: _positive(
            None if record.feed_in_power is None else -record.feed_in_power
        ),
    ),
    _energy("grid_export_energy", lambda record: record.feed_in_energy, 2),
    _energy("grid_import_energy", lambda record: record.consume_energy, 2),
    _power("meter2_power", lambda record: record.meter2_power),
    SunvecSensorEntityDescription(
        key="battery_soc",
        device_class=SensorDeviceClass.BATTERY,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=_record_value(lambda record: record.battery_soc),
    ),
    _power("battery_power", lambda record: record.battery_power),
    _power("battery_charge_power", lambda record: _positive(record.battery_power)),
    _power(
        "battery_discharge_power",
        lambda record: _positive(
            None if record.battery_power is None else -record.battery_power
        ),
    ),
    *(
        _power(f"eps_{phase}_power", _eps_phase_power(index))
        for index, phase in enumerate(("a", "b", "c"))
    ),
    SunvecSensorEntityDescription(
        key="inverter_status",
        translation_key="inverter_status",
        device_class=SensorDeviceClass.ENUM,
        options=[status.value for status in InverterStatus],
        value_fn=_record_value(lambda record: record.inverter_status),
    ),
    SunvecSensorEntityDescription(
        key="inverter_status_code",
        translation_key="inverter_status_code",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_record_value(lambda record: record.inverter_status_code),
    ),
    SunvecSensorEntityDescription(
        key="battery_status",
        translation_key="battery_status",
        device_class=SensorDeviceClass.ENUM,
        options=[status.value for status in BatteryStatus],
        value_fn=_record_value(lambda record: record.battery_status),
    ),
    SunvecSensorEntityDescription(
        key="last_upload",
        translation_key="last_upload",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data: data.upload_time,
    ),
    SunvecSensorEntityDescription(
        key="inverter_type",
        translation_key="inverter_type",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_record_value(lambda record: record.inverter_type),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SunvecConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a sensor for every value the realtime API offers."""
    coordinator = entry.runtime_data
    async_add_entities(
        SunvecSensorEntity(coordinator, description) for description in SENSORS
    )


class SunvecSensorEntity(SunvecEntity, SensorEntity):
    """A sensor whose value is read from the inverter's last record."""

    entity_description: SunvecSensorEntityDescription

    def __init__(
        self,
        coordinator: SunvecCoordinator,
        description: SunvecSensorEntityDescription,
    ) -> None:
        """Create the sensor; a value the inverter lacks starts disabled."""
        super().__init__(coordinator, description)
        self._attr_entity_registry_enabled_default = (
            description.value_fn(coordinator.data) is not None
        )

    @property
    def native_value(self) -> StateType | datetime:
        """Return the value from the last record."""
        return self.entity_description.value_fn(self.coordinator.data)
