"""Parsed replies of the Sunvec Connect realtime API.

Parsing is tolerant and never raises: the cloud sends numbers as strings, ``null``, empty
strings, fields a model lacks, and now and then values no inverter can mean. A value that
cannot be used is a missing value: anything that is not a finite number becomes ``None``,
as do texts too long to be a serial number or code; unknown fields are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
import json
import math
import re
from typing import Any

UPLOAD_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
"""The documented shape of ``uploadTime``; :func:`parse_time` accepts common variants."""

MAX_TEXT_LENGTH = 100
"""Longer texts are no serial number, code or time: they are treated as missing."""
MAX_CODE_LENGTH = 20

# The documented "YYYY-MM-DD HH:MM:SS" and the same instant written other common ways:
# "T" for the blank, "/" in the date, one-digit fields, no seconds, fractional seconds,
# and a trailing "Z", "UTC" or numeric offset.
_TIME = re.compile(
    r"""
    (?P<year>\d{4}) (?P<sep>[-/]) (?P<month>\d{1,2}) (?P=sep) (?P<day>\d{1,2})
    (?: [Tt] | \s+ )
    (?P<hour>\d{1,2}) : (?P<minute>\d{2})
    (?: : (?P<second>\d{2}) (?: [.,] (?P<fraction>\d+) )? )?
    \s*
    (?: (?P<utc> [Zz] | (?i:utc|gmt) )
      | (?P<sign>[+-]) (?P<offset_hours>\d{2}) (?: :? (?P<offset_minutes>\d{2}) )?
    )?
    """,
    re.VERBOSE | re.ASCII,
)
# A time this close to the ends of ``datetime`` could not be moved to every zone.
_EARLIEST = datetime.min + timedelta(days=1)  # noqa: DTZ901 - wall-clock bound
_LATEST = datetime.max - timedelta(days=1)  # noqa: DTZ901 - wall-clock bound


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
    """When the inverter uploaded: naive plant wall-clock time as documented, aware
    only if the cloud sent an offset or "Z"; None when absent or unreadable."""
    utc_upload_time: datetime | None = None
    """The undocumented ``utcDateTime`` (aware UTC): a hint to check, never to trust."""
    unparsed_upload_time: str | None = None
    """The ``uploadTime`` as sent, when it was there but could not be read as a time."""

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
        """Build a record from the ``result`` object of a reply; never raises."""
        raw_upload_time = result.get("uploadTime")
        upload_time = parse_upload_time(raw_upload_time)
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
            upload_time=upload_time,
            utc_upload_time=parse_utc_time(result.get("utcDateTime")),
            unparsed_upload_time=(
                describe_raw(raw_upload_time) if upload_time is None else None
            ),
        )


def parse_number(value: Any) -> float | None:
    """Return a finite float from a number or numeric string, else None; never raises."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str):
            number = float(value.strip())
        else:
            return None
    except (ArithmeticError, TypeError, ValueError):  # e.g. a 400-digit integer
        return None
    return number if math.isfinite(number) else None


def parse_text(value: Any) -> str | None:
    """Return a stripped non-empty string of usable length, else None; never raises."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > MAX_TEXT_LENGTH:
        return None
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate from a JSON escape
        return None
    return text


def parse_code(value: Any) -> str | None:
    """Return a status or type code as text; integral numbers are accepted too."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int):
            text = parse_text(str(value))
        elif isinstance(value, float):
            text = str(int(value)) if value.is_integer() else None
        else:
            text = parse_text(value)
    except (ArithmeticError, TypeError, ValueError):
        return None
    return text if text is not None and len(text) <= MAX_CODE_LENGTH else None


def parse_time(value: Any) -> datetime | None:
    """Return a time in the documented shape or a common variant of it, else None.

    Naive unless the text ends in "Z", "UTC" or an offset; never raises. A time within a
    day of the ends of ``datetime`` is None: it could not be moved to every zone.
    """
    text = parse_text(value)
    match = _TIME.fullmatch(text) if text is not None else None
    if match is None:
        return None
    fraction = (match["fraction"] or "")[:6].ljust(6, "0")
    try:
        parsed = datetime(  # noqa: DTZ001 - the zone, if any, is set below
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"] or 0),
            int(fraction),
        )
        if not _EARLIEST <= parsed <= _LATEST:
            return None
        if match["utc"]:
            return parsed.replace(tzinfo=UTC)
        if match["sign"]:
            offset = timedelta(
                hours=int(match["offset_hours"]),
                minutes=int(match["offset_minutes"] or 0),
            )
            zone = timezone(-offset if match["sign"] == "-" else offset)
            return parsed.replace(tzinfo=zone)
    except (ArithmeticError, ValueError):  # 2024-13-40, 25:00, an offset of 24 h
        return None
    return parsed


def parse_upload_time(value: Any) -> datetime | None:
    """Return ``uploadTime``: naive plant wall-clock time, or None; never raises."""
    return parse_time(value)


def parse_utc_time(value: Any) -> datetime | None:
    """Return the undocumented ``utcDateTime`` as an aware UTC datetime, or None.

    A time without an offset is taken as UTC; never raises.
    """
    parsed = parse_time(value)
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def describe_raw(value: Any) -> str | None:
    """Return a short text of a value as the cloud sent it, for a log line; None if empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        text = value.strip()
    else:
        try:
            text = json.dumps(value)
        except (RecursionError, TypeError, ValueError):
            text = f"<{type(value).__name__}>"
    text = text[:MAX_TEXT_LENGTH].encode(errors="replace").decode()
    return "".join(char if char.isprintable() else " " for char in text)
