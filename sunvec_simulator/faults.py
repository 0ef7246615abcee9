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
    # Record level: change what the inverter's next upload(s) store in the cloud.
    COUNTER_ZERO = "counter_zero"
    COUNTER_LOWER = "counter_lower"
    YESTERDAY_YIELD_TODAY = "yesterday_yield_today"
    UNKNOWN_STATUS = "unknown_status"
    FUTURE_UPLOAD_TIME = "future_upload_time"
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
    }
)
# Faults that last until cleared whatever ``count`` says.
PERSISTENT_RECORD_FAULTS = frozenset({Fault.FUTURE_UPLOAD_TIME, Fault.UPLOADS_STOPPED})

LIFETIME_COUNTERS = ("yieldtotal", "feedinenergy", "consumeenergy")


def _no_params(params: dict[str, Any]) -> dict[str, Any]:
    if params:
        raise ValueError(f"unexpected parameters: {', '.join(sorted(params))}")
    return {}


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


def _future_params(params: dict[str, Any]) -> dict[str, Any]:
    rest = dict(params)
    hours = rest.pop("hours", 2)
    _no_params(rest)
    if isinstance(hours, bool) or not isinstance(hours, int | float):
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
        return _future_params(params)
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
