"""Sensors of a Sunvec inverter: power, energy, battery, status and upload time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
import math
from typing import Any, Self

from homeassistant.components.sensor import (
    DOMAIN as SENSOR_DOMAIN,
    RestoreSensor,
    SensorDeviceClass,
    SensorEntityDescription,
    SensorExtraStoredData,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, EntityCategory, UnitOfEnergy, UnitOfPower
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .const import DOMAIN, LOGGER
from .coordinator import SunvecConfigEntry, SunvecCoordinator
from .energy import PowerIntegrator, PowerPart, sum_known
from .entity import SunvecEntity
from .guards import DayTotalGuard, GuardStatus, LifetimeCounterGuard
from .models import BatteryStatus, InverterStatus, RealtimeData
from .reply import SunvecData, UploadState

PARALLEL_UPDATES = 0


class ValueKind(StrEnum):
    """How a sensor's value behaves when uploads stop or glitch."""

    LIVE = "live"
    """Unavailable when the last upload is stale."""
    PRODUCTION = "production"
    """Like LIVE, but 0 when the inverter went to sleep normally."""
    STATUS = "status"
    """Like LIVE, but keeps the sleep state when the inverter went to sleep."""
    LIFETIME = "lifetime"
    """A lifetime counter: never goes down (see LifetimeCounterGuard), restored."""
    DAY_TOTAL = "day_total"
    """Today's total: goes down only when the plant's day changes, restored."""
    INFO = "info"
    """Always shown as last reported (upload time, type code)."""


@dataclass(frozen=True, kw_only=True)
class SunvecSensorEntityDescription(SensorEntityDescription):
    """Describes a Sunvec sensor: how to read its value from the last record."""

    value_fn: Callable[[SunvecData], StateType | datetime]
    kind: ValueKind = ValueKind.LIVE
    unknown_code_fn: Callable[[RealtimeData], str | None] | None = None
    """The reported code that the value could not map to a state, if any."""


@dataclass(frozen=True, kw_only=True)
class SunvecEnergyIntegralDescription(SensorEntityDescription):
    """Describes an energy sensor integrated from a power of consecutive uploads."""

    power_fn: Callable[[RealtimeData], float | None]
    part: PowerPart
    exists_fn: Callable[[RealtimeData], bool] = lambda _: True
    """Whether the inverter has what is integrated (else no state, and disabled)."""


def _record_value(
    read: Callable[[RealtimeData], float | str | None],
) -> Callable[[SunvecData], StateType | datetime]:
    return lambda data: read(data.record)


def _positive(value: float | None) -> float | None:
    if value is None:
        return None
    return value if value > 0 else 0.0


def _negated(value: float | None) -> float | None:
    return None if value is None else -value


def _pv_power(record: RealtimeData) -> float | None:
    return sum_known(record.pv_power)


def _home_power(record: RealtimeData) -> float | None:
    """Return what the house draws: the energy balance at the grid connection.

    The inverter's AC output (on a hybrid, after what the battery gives or takes)
    minus what goes to the grid; a small negative from samples taken a moment
    apart reads 0. ``feedinpowerM2`` is not part of it: its meaning is not
    documented.
    """
    if record.ac_power is None or record.feed_in_power is None:
        return None
    return _positive(record.ac_power - record.feed_in_power)


def _has_home_power(record: RealtimeData) -> bool:
    return record.ac_power is not None and record.feed_in_power is not None


def _pv_string_power(index: int) -> Callable[[RealtimeData], float | None]:
    return lambda record: record.pv_power[index]


def _eps_phase_power(index: int) -> Callable[[RealtimeData], float | None]:
    return lambda record: record.eps_power[index]


def _power(
    key: str,
    read: Callable[[RealtimeData], float | None],
    kind: ValueKind = ValueKind.LIVE,
) -> SunvecSensorEntityDescription:
    return SunvecSensorEntityDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=0,
        value_fn=_record_value(read),
        kind=kind,
    )


def _energy(
    key: str,
    read: Callable[[RealtimeData], float | None],
    precision: int,
    kind: ValueKind,
) -> SunvecSensorEntityDescription:
    return SunvecSensorEntityDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=precision,
        value_fn=_record_value(read),
        kind=kind,
    )


SENSORS: tuple[SunvecSensorEntityDescription, ...] = (
    _power("ac_power", lambda record: record.ac_power, ValueKind.PRODUCTION),
    _power("pv_power", _pv_power, ValueKind.PRODUCTION),
    *(
        _power(f"pv{string + 1}_power", _pv_string_power(string), ValueKind.PRODUCTION)
        for string in range(4)
    ),
    _energy("yield_today", lambda record: record.yield_today, 1, ValueKind.DAY_TOTAL),
    _energy("yield_total", lambda record: record.yield_total, 1, ValueKind.LIFETIME),
    _power("feed_in_power", lambda record: record.feed_in_power),
    _power("grid_export_power", lambda record: _positive(record.feed_in_power)),
    _power(
        "grid_import_power",
        lambda record: _positive(_negated(record.feed_in_power)),
    ),
    _energy(
        "grid_export_energy",
        lambda record: record.feed_in_energy,
        2,
        ValueKind.LIFETIME,
    ),
    _energy(
        "grid_import_energy",
        lambda record: record.consume_energy,
        2,
        ValueKind.LIFETIME,
    ),
    _power("meter2_power", lambda record: record.meter2_power),
    _power("home_consumption_power", _home_power),
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
        lambda record: _positive(_negated(record.battery_power)),
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
        kind=ValueKind.STATUS,
        unknown_code_fn=lambda record: (
            record.inverter_status_code if record.inverter_status is None else None
        ),
    ),
    SunvecSensorEntityDescription(
        key="inverter_status_code",
        translation_key="inverter_status_code",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_record_value(lambda record: record.inverter_status_code),
        kind=ValueKind.STATUS,
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
        value_fn=lambda data: None if data.upload is None else data.upload.instant,
        kind=ValueKind.INFO,
    ),
    SunvecSensorEntityDescription(
        key="upload_state",
        translation_key="upload_state",
        device_class=SensorDeviceClass.ENUM,
        entity_category=EntityCategory.DIAGNOSTIC,
        options=[state.value for state in UploadState],
        value_fn=lambda data: data.upload_state,
        kind=ValueKind.INFO,
    ),
    SunvecSensorEntityDescription(
        key="inverter_type",
        translation_key="inverter_type",
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_record_value(lambda record: record.inverter_type),
        kind=ValueKind.INFO,
    ),
)


def _energy_integral(
    key: str,
    power_fn: Callable[[RealtimeData], float | None],
    part: PowerPart,
    *,
    exists_fn: Callable[[RealtimeData], bool] = lambda _: True,
) -> SunvecEnergyIntegralDescription:
    return SunvecEnergyIntegralDescription(
        key=key,
        translation_key=key,
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        state_class=SensorStateClass.TOTAL_INCREASING,
        suggested_display_precision=2,
        power_fn=power_fn,
        part=part,
        exists_fn=exists_fn,
    )


ENERGY_INTEGRALS: tuple[SunvecEnergyIntegralDescription, ...] = (
    _energy_integral("pv_energy", _pv_power, PowerPart.POSITIVE),
    _energy_integral(
        "battery_charge_energy",
        lambda record: record.battery_power,
        PowerPart.POSITIVE,
        exists_fn=lambda record: record.has_battery,
    ),
    _energy_integral(
        "battery_discharge_energy",
        lambda record: record.battery_power,
        PowerPart.NEGATIVE,
        exists_fn=lambda record: record.has_battery,
    ),
    _energy_integral(
        "home_consumption_energy",
        _home_power,
        PowerPart.POSITIVE,
        exists_fn=_has_home_power,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SunvecConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a sensor for every value the realtime API offers, and the energy integrals.

    Values the first reply lacks start disabled; each is enabled as soon as a reply
    has it, unless the user disabled it: one bad first reply hides nothing for good.
    """
    coordinator = entry.runtime_data
    entities: list[SunvecSensorEntity | SunvecEnergyIntegralSensor] = [
        *(SunvecSensorEntity(coordinator, description) for description in SENSORS),
        *(
            SunvecEnergyIntegralSensor(coordinator, description)
            for description in ENERGY_INTEGRALS
        ),
    ]
    async_add_entities(entities)
    pending = {
        entity.unique_id: entity.reports for entity in entities if entity.unique_id
    }

    @callback
    def enable_what_reports() -> None:
        registry = er.async_get(hass)
        for unique_id, reports in list(pending.items()):
            entity_id = registry.async_get_entity_id(SENSOR_DOMAIN, DOMAIN, unique_id)
            registered = None if entity_id is None else registry.async_get(entity_id)
            if registered is None:
                continue
            if registered.disabled_by is not er.RegistryEntryDisabler.INTEGRATION:
                del pending[unique_id]  # enabled, or the user's choice
            elif reports(coordinator.data):
                del pending[unique_id]
                registry.async_update_entity(registered.entity_id, disabled_by=None)
                LOGGER.info("%s now reports a value: enabled", registered.entity_id)

    entry.async_on_unload(coordinator.async_add_listener(enable_what_reports))


@dataclass
class SunvecRestoredData(SensorExtraStoredData):
    """A sensor's last value plus the memory of its guard or integrator."""

    memory: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict."""
        return super().as_dict() | {"memory": self.memory}

    @classmethod
    def from_dict(cls, restored: dict[str, Any]) -> Self | None:
        """Read what as_dict stored, or None when it is not ours."""
        base = SensorExtraStoredData.from_dict(restored)
        memory = restored.get("memory")
        if base is None or not isinstance(memory, dict):
            return None
        return cls(base.native_value, base.native_unit_of_measurement, memory)


async def _restored(entity: RestoreSensor) -> SunvecRestoredData | None:
    """Return what a sensor stored before the last restart, if it is ours."""
    if (last := await entity.async_get_last_extra_data()) is None:
        return None
    return SunvecRestoredData.from_dict(last.as_dict())


class _RestoringSensor(SunvecEntity, RestoreSensor):
    """A sensor that restores a memory, and never shows a number that is not finite."""

    def _report_restore(self, what: str) -> None:
        """Log one line for what the stored memory held that cannot be true."""
        LOGGER.warning("%s: ignoring what was stored: %s", self.entity_id, what)

    @property
    def native_value(self) -> StateType | date | datetime | Decimal:
        """Return the value; never inf or NaN."""
        value = self._attr_native_value
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value


class SunvecSensorEntity(_RestoringSensor):
    """A sensor whose value is read from the inverter's last record."""

    entity_description: SunvecSensorEntityDescription

    def __init__(
        self,
        coordinator: SunvecCoordinator,
        description: SunvecSensorEntityDescription,
    ) -> None:
        """Create the sensor; a value the inverter lacks starts disabled."""
        super().__init__(coordinator, description)
        self._attr_entity_registry_enabled_default = self.reports(coordinator.data)
        self._lifetime = LifetimeCounterGuard()
        self._day_total = DayTotalGuard()
        self._last_guard_status: GuardStatus | None = None
        self._last_reply: datetime | None = None
        self._undated: tuple[RealtimeData, datetime] | None = None
        self._unknown_codes_logged: set[str] = set()

    def reports(self, data: SunvecData) -> bool:
        """Return whether the inverter reports this value (else it starts disabled)."""
        return self.entity_description.value_fn(data) is not None

    async def async_added_to_hass(self) -> None:
        """Restore what the counters last showed, so a glitch after a restart is caught."""
        kind = self.entity_description.kind
        data = self.coordinator.data
        if kind is ValueKind.LIFETIME:
            await self._restore_lifetime(data.as_of)
        elif kind is ValueKind.DAY_TOTAL and (restored := await _restored(self)):
            self._day_total = DayTotalGuard.from_dict(
                restored.memory, today=data.plant_today, report=self._report_restore
            )
        await super().async_added_to_hass()

    async def _restore_lifetime(self, now: datetime) -> None:
        if (restored := await _restored(self)) is not None:
            memory = restored.memory
            value, stamp = memory.get("last_good"), memory.get("last_time")
        elif (last := await self.async_get_last_sensor_data()) is not None:
            value, stamp = last.native_value, None  # stored before the memory was
        else:
            return
        upload_time = _parse_time(stamp)
        if upload_time is not None and upload_time > now:
            self._report_restore(f"the last upload time {upload_time} lies ahead")
            upload_time = None
        if isinstance(value, int | float):
            self._lifetime.restore(float(value), upload_time)

    @property
    def extra_restore_state_data(self) -> SensorExtraStoredData:
        """Store the guard's memory with the value; the rest as a RestoreSensor."""
        kind = self.entity_description.kind
        if kind is ValueKind.DAY_TOTAL:
            memory = self._day_total.as_dict()
        elif kind is ValueKind.LIFETIME:
            memory = self._lifetime.as_dict()
        else:
            return super().extra_restore_state_data
        return SunvecRestoredData(
            self.native_value, self.native_unit_of_measurement, memory
        )

    @property
    def available(self) -> bool:
        """Return False for live values when the inverter stopped uploading."""
        if not super().available:
            return False
        kind = self.entity_description.kind
        if kind not in (ValueKind.LIVE, ValueKind.PRODUCTION, ValueKind.STATUS):
            return True
        data = self.coordinator.data
        return not data.stale or (data.asleep and kind is not ValueKind.LIVE)

    def _update_from_data(self) -> None:
        data = self.coordinator.data
        description = self.entity_description
        reported = description.value_fn(data)
        if data.received_at != self._last_reply:
            self._last_reply = data.received_at
            self._take_reply(data, reported)
        value = reported
        if description.kind is ValueKind.LIFETIME:
            value = self._lifetime.last_good
        elif description.kind is ValueKind.DAY_TOTAL:
            value = self._day_total.value_for(data.plant_today)
        elif description.kind is ValueKind.PRODUCTION and data.asleep and data.stale:
            value = 0
        self._attr_native_value = value

    def _take_reply(self, data: SunvecData, reported: StateType | datetime) -> None:
        """Feed a new reply to the sensor's guard; log what it holds back."""
        kind = self.entity_description.kind
        if kind is ValueKind.LIFETIME:
            kept = self._lifetime.update(_as_float(reported), self._upload_of(data))
            self._log_guard(self._lifetime.status, reported, kept)
        elif kind is ValueKind.DAY_TOTAL and data.upload is not None:
            kept = self._day_total.update(
                _as_float(reported),
                data.upload.instant,
                data.upload.plant_day,
                today=data.plant_today,
            )
            self._log_guard(self._day_total.status, reported, kept)
        unknown_fn = self.entity_description.unknown_code_fn
        if (
            unknown_fn is not None
            and (code := unknown_fn(data.record)) is not None
            and code not in self._unknown_codes_logged
        ):
            self._unknown_codes_logged.add(code)
            LOGGER.warning(
                "%s: the inverter reports code %s, which the Sunvec API documents "
                "no state for; shown as unknown",
                self.entity_id,
                code,
            )

    def _upload_of(self, data: SunvecData) -> datetime:
        """Return the instant that names the reply's upload, for the lifetime guard.

        An undated record is named by when it first came: the same record polled
        again is the same upload, not a new one at every poll.
        """
        if data.upload is not None:
            return data.upload.instant
        if self._undated is None or self._undated[0] != data.record:
            self._undated = (data.record, data.received_at)
        return self._undated[1]

    def _log_guard(
        self,
        status: GuardStatus | None,
        reported: StateType | datetime,
        shown: StateType | datetime,
    ) -> None:
        """Log once at debug when a guard starts holding back a reported value."""
        if status is self._last_guard_status:
            return
        self._last_guard_status = status
        if status not in (None, GuardStatus.ACCEPTED, GuardStatus.DUPLICATE):
            LOGGER.debug(
                "%s: the cloud reported %s (%s); showing %s",
                self.entity_id,
                reported,
                status,
                shown,
            )


class SunvecEnergyIntegralSensor(_RestoringSensor):
    """Energy integrated with the trapezoid rule from the power of each upload."""

    entity_description: SunvecEnergyIntegralDescription

    def __init__(
        self,
        coordinator: SunvecCoordinator,
        description: SunvecEnergyIntegralDescription,
    ) -> None:
        """Create the sensor; battery energies start disabled without a battery."""
        super().__init__(coordinator, description)
        self._attr_entity_registry_enabled_default = self.reports(coordinator.data)
        self._integrator = PowerIntegrator(description.part)
        self._last_reply: datetime | None = None

    def reports(self, data: SunvecData) -> bool:
        """Return whether there is something to integrate (a battery, for its energy)."""
        return self.entity_description.exists_fn(data.record)

    async def async_added_to_hass(self) -> None:
        """Continue from the stored total and last sample; never start over at 0."""
        if restored := await _restored(self):
            self._integrator = PowerIntegrator.from_dict(
                restored.memory,
                part=self.entity_description.part,
                now=self.coordinator.data.as_of,
                report=self._report_restore,
            )
        await super().async_added_to_hass()

    @property
    def extra_restore_state_data(self) -> SensorExtraStoredData:
        """Store the total with the last sample it was integrated to."""
        return SunvecRestoredData(
            self.native_value,
            self.native_unit_of_measurement,
            self._integrator.as_dict(),
        )

    def _update_from_data(self) -> None:
        data = self.coordinator.data
        if not self.entity_description.exists_fn(data.record):
            self._attr_native_value = None
            return
        if data.upload is not None and data.received_at != self._last_reply:
            self._last_reply = data.received_at
            self._integrator.add(
                data.upload.instant, self.entity_description.power_fn(data.record)
            )
        self._attr_native_value = self._integrator.total


def _as_float(value: StateType | datetime) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _parse_time(value: object) -> datetime | None:
    """Return an aware time stored as ISO text, else None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
