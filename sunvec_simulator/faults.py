"""Faults the simulated cloud can be told to show, and their parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Fault(StrEnum):
    """A misbehaviour of the cloud, its proxy or the inverter's uploads."""

    # Reply level: change the answer to each matching request while active.
    REVOKED_TOKEN = "revoked_token"  # noqa: S105 (a fault name)
    HTTP_500 = "http_500"
    HTTP_502 = "http_502"
    HANG = "hang"
    MALFORMED_JSON = "malformed_json"
    NUMBERS_AS_STRINGS = "numbers_as_strings"
    NULL_VALUES = "null_values"
    ERROR_CODE = "error_code"
    RATE_LIMITED = "rate_limited"
    LOCKOUT = "lockout"
    HTTP_429 = "http_429"
    REASON_IN_RESULT = "reason_in_result"
    SERVER_BUSY = "server_busy"
    REDIRECT = "redirect"
    NESTED_JSON = "nested_json"
    ECHO_TOKEN = "echo_token"  # noqa: S105 (a fault name)
    UTC_TIME_OFF = "utc_time_off"
    # Record level: change what the inverter's next upload(s) store in the cloud.
    COUNTER_ZERO = "counter_zero"
    COUNTER_LOWER = "counter_lower"
    YESTERDAY_YIELD_TODAY = "yesterday_yield_today"
    UNKNOWN_STATUS = "unknown_status"
    ABSURD_VALUE = "absurd_value"
    FUTURE_UPLOAD_TIME = "future_upload_time"
    UPLOAD_TIME_FORMAT = "upload_time_format"
    UPLOADS_STOPPED = "uploads_stopped"


REPLY_FAULTS = frozenset(
    {
        Fault.REVOKED_TOKEN,
        Fault.HTTP_500,
        Fault.HTTP_502,
        Fault.HANG,
        Fault.MALFORMED_JSON,
        Fault.NUMBERS_AS_STRINGS,
        Fault.NULL_VALUES,
        Fault.ERROR_CODE,
        Fault.RATE_LIMITED,
        Fault.LOCKOUT,
        Fault.HTTP_429,
        Fault.REASON_IN_RESULT,
        Fault.SERVER_BUSY,
        Fault.REDIRECT,
        Fault.NESTED_JSON,
        Fault.ECHO_TOKEN,
        Fault.UTC_TIME_OFF,
    }
)
# Faults that last until cleared whatever ``count`` says.
PERSISTENT_RECORD_FAULTS = frozenset(
    {Fault.FUTURE_UPLOAD_TIME, Fault.UPLOAD_TIME_FORMAT, Fault.UPLOADS_STOPPED}
)

LIFETIME_COUNTERS = ("yieldtotal", "feedinenergy", "consumeenergy")
NUMERIC_FIELDS = (
    "acpower", "yieldtoday", "yieldtotal", "feedinpower", "feedinenergy",
    "consumeenergy", "feedinpowerM2", "soc", "peps1", "peps2", "peps3", "batPower",
    "powerdc1", "powerdc2", "powerdc3", "powerdc4",
)  # fmt: skip
LOCKOUT_MESSAGE = (
    "There have been several violations in a row, and the system will prohibit calls"
    " within the next hour"
)
"""The lock-out text seen in the field (API document, part 2)."""
UPLOAD_TIME_STYLES = {
    "t_separator": "%Y-%m-%dT%H:%M:%S",
    "milliseconds": "%Y-%m-%d %H:%M:%S.000",
    "slashes": "%Y/%m/%d %H:%M:%S",
    "no_seconds": "%Y-%m-%d %H:%M",
    "utc_offset": "%Y-%m-%dT%H:%M:%S%:z",
    "garbage": "",
}
"""``uploadTime`` shapes of UPLOAD_TIME_FORMAT; "garbage" sends its ``text`` instead."""
ECHO_PLACES = ("exception", "result", "html", "location")
REDIRECT_STATUSES = (301, 302, 303, 307, 308)
OTHER_ORIGIN = "https://api.sunvec-elsewhere.example/api/v2/dataAccess/realtimeInfo/get"


def _no_params(params: dict[str, Any]) -> dict[str, Any]:
    if params:
        raise ValueError(f"unexpected parameters: {', '.join(sorted(params))}")
    return {}


def _pop(params: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The parameters named in ``defaults`` (filled in); anything else is an error."""
    rest = dict(params)
    values = {name: rest.pop(name, default) for name, default in defaults.items()}
    _no_params(rest)
    return values


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _optional_int(value: Any, name: str) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
        raise TypeError(f"'{name}' must be an integer or null")


def _optional_text(value: Any, name: str) -> None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"'{name}' must be a string")


def _choice(value: Any, name: str, choices: tuple[Any, ...]) -> None:
    if value not in choices or isinstance(value, bool):
        raise ValueError(f"'{name}' must be one of {', '.join(map(str, choices))}")


def _refusal_params(
    params: dict[str, Any], *, code: int | None, exception: str | None
) -> dict[str, Any]:
    values = _pop(params, {"code": code, "exception": exception})
    _optional_int(values["code"], "code")
    _optional_text(values["exception"], "exception")
    return values


def _http_429_params(params: dict[str, Any]) -> dict[str, Any]:
    values = _pop(params, {"retry_after": 60, "http_date": False})
    _optional_int(values["retry_after"], "retry_after")
    if values["retry_after"] is not None and values["retry_after"] < 0:
        raise ValueError("'retry_after' must not be negative")
    if not isinstance(values["http_date"], bool):
        raise TypeError("'http_date' must be true or false")
    return values


def _reason_params(params: dict[str, Any]) -> dict[str, Any]:
    values = _pop(
        params, {"reason": "this sn did not access!", "exception": "Query success!"}
    )
    if not isinstance(values["reason"], str):
        raise TypeError("'reason' must be a string")
    _optional_text(values["exception"], "exception")
    return values


def _redirect_params(params: dict[str, Any]) -> dict[str, Any]:
    values = _pop(params, {"location": OTHER_ORIGIN, "status": 302})
    if not isinstance(values["location"], str):
        raise TypeError("'location' must be a string")
    _choice(values["status"], "status", REDIRECT_STATUSES)
    return values


def _nested_params(params: dict[str, Any]) -> dict[str, Any]:
    values = _pop(params, {"depth": 100_000})
    depth = values["depth"]
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError("'depth' must be a positive integer")
    return values


def _echo_params(params: dict[str, Any]) -> dict[str, Any]:
    values = _pop(params, {"where": "exception"})
    _choice(values["where"], "where", ECHO_PLACES)
    return values


def _absurd_params(params: dict[str, Any]) -> dict[str, Any]:
    values = _pop(params, {"field": "acpower", "value": 1e7})
    _choice(values["field"], "field", NUMERIC_FIELDS)
    if not _is_number(values["value"]):
        raise TypeError("'value' must be a number")
    return values


def _upload_time_format_params(params: dict[str, Any]) -> dict[str, Any]:
    values = _pop(params, {"style": "t_separator", "text": None})
    _choice(values["style"], "style", tuple(UPLOAD_TIME_STYLES))
    _optional_text(values["text"], "text")
    if values["style"] == "garbage":
        values["text"] = (
            values["text"] if values["text"] is not None else "0000-00-00 00:00:00"
        )
    elif values["text"] is not None:
        raise ValueError("'text' goes with the style 'garbage' only")
    return values


def _error_code_params(params: dict[str, Any]) -> dict[str, Any]:
    rest = dict(params)
    code = rest.pop("code", None)
    exception = rest.pop("exception", None)
    _no_params(rest)
    if not isinstance(code, int) or isinstance(code, bool):
        raise TypeError("error_code needs an integer 'code'")
    if exception is not None and not isinstance(exception, str):
        raise ValueError("'exception' must be a string")
    return {"code": code, "exception": exception}


def _counter_params(params: dict[str, Any], *, with_amount: bool) -> dict[str, Any]:
    rest = dict(params)
    counter = rest.pop("field", "yieldtotal")
    amount = rest.pop("amount", None) if with_amount else None
    _no_params(rest)
    if counter not in LIFETIME_COUNTERS:
        raise ValueError(f"'field' must be one of {', '.join(LIFETIME_COUNTERS)}")
    if amount is not None and (
        not isinstance(amount, int | float) or isinstance(amount, bool) or amount <= 0
    ):
        raise ValueError("'amount' must be a positive number of kWh")
    return {"field": counter, "amount": amount} if with_amount else {"field": counter}


def _status_params(params: dict[str, Any]) -> dict[str, Any]:
    rest = dict(params)
    code = rest.pop("code", "199")
    _no_params(rest)
    if isinstance(code, bool) or not isinstance(code, int | str):
        raise TypeError("'code' must be a status code")
    return {"code": str(code)}


def _hours_params(params: dict[str, Any], default: float) -> dict[str, Any]:
    rest = dict(params)
    hours = rest.pop("hours", default)
    _no_params(rest)
    if not _is_number(hours):
        raise TypeError("'hours' must be a number")
    return {"hours": float(hours)}


def normalise_params(fault: Fault, params: dict[str, Any]) -> dict[str, Any]:
    """Check a fault's parameters and fill in their defaults."""
    if fault is Fault.ERROR_CODE:
        return _error_code_params(params)
    if fault is Fault.COUNTER_ZERO:
        return _counter_params(params, with_amount=False)
    if fault is Fault.COUNTER_LOWER:
        return _counter_params(params, with_amount=True)
    if fault is Fault.UNKNOWN_STATUS:
        return _status_params(params)
    if fault is Fault.FUTURE_UPLOAD_TIME:
        return _hours_params(params, 2.0)
    if fault is Fault.UTC_TIME_OFF:
        return _hours_params(params, 8.0)
    if fault is Fault.RATE_LIMITED:
        return _refusal_params(params, code=104, exception=None)
    if fault is Fault.LOCKOUT:
        return _refusal_params(params, code=1, exception=LOCKOUT_MESSAGE)
    checks = {
        Fault.HTTP_429: _http_429_params,
        Fault.REASON_IN_RESULT: _reason_params,
        Fault.REDIRECT: _redirect_params,
        Fault.NESTED_JSON: _nested_params,
        Fault.ECHO_TOKEN: _echo_params,
        Fault.ABSURD_VALUE: _absurd_params,
        Fault.UPLOAD_TIME_FORMAT: _upload_time_format_params,
    }
    if fault in checks:
        return checks[fault](params)
    return _no_params(params)


@dataclass
class ActiveFault:
    """One fault in force: what, where, how many more times (``None``: until cleared)."""

    fault: Fault
    token: str | None = None
    wifi_sn: str | None = None
    remaining: int | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def matches(self, token: str | None, wifi_sn: str | None) -> bool:
        """Whether a request or inverter with this token and wifiSn is in scope."""
        if self.token is not None and self.token != token:
            return False
        return self.wifi_sn is None or self.wifi_sn == wifi_sn

    def use(self) -> None:
        """Count one application of a fault that has a limited count."""
        if self.remaining is not None:
            self.remaining -= 1

    @property
    def spent(self) -> bool:
        """Whether the fault has been applied as many times as asked."""
        return self.remaining is not None and self.remaining <= 0

    def describe(self, *, token_label: str | None) -> dict[str, Any]:
        """Describe the fault for the admin endpoint, with the token already masked."""
        return {
            "fault": self.fault.value,
            "token": token_label,
            "wifi_sn": self.wifi_sn,
            "remaining": self.remaining,
            **self.params,
        }
