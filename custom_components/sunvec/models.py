"""Parsed replies of the Sunvec Connect realtime API.

Parsing is tolerant: the cloud sends numbers as strings, ``null``, empty strings and
fields a model lacks. Anything that is not a finite number becomes ``None``; unknown
fields are ignored. Only a reply that is not an object is an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
import math
from typing import Any

UPLOAD_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


class InverterStatus(StrEnum):
    """Operating state of the inverter (the API's ``inverterStatus`` codes)."""

    WAITING = "waiting"
    SELF_TEST = "self_test"
    NORMAL = "normal"
    RECOVERABLE_FAULT = "recoverable_fault"
    PERMANENT_FAULT = "permanent_fault"
    FIRMWARE_UPGRADE = "firmware_upgrade"
    EPS_DETECTION = "eps_detection"
    OFF_GRID = "off_grid"
    SELF_TEST_ITALY = "self_test_italy"
    SLEEP = "sleep"
    STANDBY = "standby"
    PV_WAKE_UP_BATTERY = "pv_wake_up_battery"
    GENERATOR_DETECTION = "generator_detection"
    GENERATOR = "generator"
    FAST_SHUTDOWN_STANDBY = "fast_shutdown_standby"
    VPP = "vpp"
    TOU_SELF_USE = "tou_self_use"
    TOU_CHARGING = "tou_charging"
    TOU_DISCHARGING = "tou_discharging"


INVERTER_STATUS_CODES: dict[str, InverterStatus] = {
    "100": InverterStatus.WAITING,
    "101": InverterStatus.SELF_TEST,
    "102": InverterStatus.NORMAL,
    "103": InverterStatus.RECOVERABLE_FAULT,
    "104": InverterStatus.PERMANENT_FAULT,
    "105": InverterStatus.FIRMWARE_UPGRADE,
    "106": InverterStatus.EPS_DETECTION,
    "107": InverterStatus.OFF_GRID,
    "108": InverterStatus.SELF_TEST_ITALY,
    "109": InverterStatus.SLEEP,
    "110": InverterStatus.STANDBY,
    "111": InverterStatus.PV_WAKE_UP_BATTERY,
    "112": InverterStatus.GENERATOR_DETECTION,
    "113": InverterStatus.GENERATOR,
    "114": InverterStatus.FAST_SHUTDOWN_STANDBY,
    "130": InverterStatus.VPP,
    "131": InverterStatus.TOU_SELF_USE,
    "132": InverterStatus.TOU_CHARGING,
    "133": InverterStatus.TOU_DISCHARGING,
}

FAULT_STATUSES = frozenset(
    {InverterStatus.RECOVERABLE_FAULT, InverterStatus.PERMANENT_FAULT}
)


class BatteryStatus(StrEnum):
    """Battery state (the API's ``batStatus`` codes)."""

    NORMAL = "normal"
    FAULT = "fault"
    DISCONNECTED = "disconnected"


BATTERY_STATUS_CODES: dict[str, BatteryStatus] = {
    "0": BatteryStatus.NORMAL,
    "1": BatteryStatus.FAULT,
    "2": BatteryStatus.DISCONNECTED,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RealtimeData:
    """One realtime record of an inverter, as the cloud last received it.

    Powers are in W, energies in kWh, the state of charge in %. Signs follow the API:
    ``feed_in_power`` > 0 exports to the grid, ``battery_power`` > 0 charges.
    """

    inverter_sn: str | None
    wifi_module_sn: str | None
    ac_power: float | None
    yield_today: float | None
    yield_total: float | None
    feed_in_power: float | None
    feed_in_energy: float | None
    consume_energy: float | None
    meter2_power: float | None
    battery_soc: float | None
    battery_power: float | None
    eps_power: tuple[float | None, float | None, float | None]
    pv_power: tuple[float | None, float | None, float | None, float | None]
    inverter_type: str | None
    inverter_status_code: str | None
    battery_status_code: str | None
    upload_time: datetime | None
    utc_upload_time: datetime | None = None

    @property
    def inverter_status(self) -> InverterStatus | None:
        """Return the mapped status, or None when absent or unknown."""
        if self.inverter_status_code is None:
            return None
        return INVERTER_STATUS_CODES.get(self.inverter_status_code)

    @property
    def battery_status(self) -> BatteryStatus | None:
        """Return the mapped battery status, or None when absent or unknown."""
        if self.battery_status_code is None:
            return None
        return BATTERY_STATUS_CODES.get(self.battery_status_code)

    @property
    def has_battery(self) -> bool:
        """Return whether the record shows a battery."""
        return self.battery_soc is not None or self.battery_power is not None

    @classmethod
    def from_dict(cls, result: dict[str, Any]) -> RealtimeData:
        """Build a record from the ``result`` object of a reply."""
        return cls(
            inverter_sn=parse_text(result.get("inverterSN")),
            wifi_module_sn=parse_text(result.get("sn")),
            ac_power=parse_number(result.get("acpower")),
            yield_today=parse_number(result.get("yieldtoday")),
            yield_total=parse_number(result.get("yieldtotal")),
            feed_in_power=parse_number(result.get("feedinpower")),
            feed_in_energy=parse_number(result.get("feedinenergy")),
            consume_energy=parse_number(result.get("consumeenergy")),
            meter2_power=parse_number(result.get("feedinpowerM2")),
            battery_soc=parse_number(result.get("soc")),
            battery_power=parse_number(result.get("batPower")),
            eps_power=(
                parse_number(result.get("peps1")),
                parse_number(result.get("peps2")),
                parse_number(result.get("peps3")),
            ),
            pv_power=(
                parse_number(result.get("powerdc1")),
                parse_number(result.get("powerdc2")),
                parse_number(result.get("powerdc3")),
                parse_number(result.get("powerdc4")),
            ),
            inverter_type=parse_code(result.get("inverterType")),
            inverter_status_code=parse_code(result.get("inverterStatus")),
            battery_status_code=parse_code(result.get("batStatus")),
            upload_time=parse_upload_time(result.get("uploadTime")),
            utc_upload_time=parse_utc_time(result.get("utcDateTime")),
        )


def parse_number(value: Any) -> float | None:
    """Return a finite float from a number or numeric string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def parse_text(value: Any) -> str | None:
    """Return a stripped non-empty string, else None."""
    if isinstance(value, str):
        return value.strip() or None
    return None


def parse_code(value: Any) -> str | None:
    """Return a status or type code as text; integral numbers are accepted too."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else None
    return parse_text(value)


def parse_upload_time(value: Any) -> datetime | None:
    """Return the naive wall-clock ``uploadTime``, or None when it is not valid."""
    text = parse_text(value)
    if text is None:
        return None
    try:
        return datetime.strptime(text, UPLOAD_TIME_FORMAT)  # noqa: DTZ007 - no zone is sent
    except ValueError:
        return None


def parse_utc_time(value: Any) -> datetime | None:
    """Return the undocumented ``utcDateTime`` as an aware UTC datetime, if valid."""
    text = parse_text(value)
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
