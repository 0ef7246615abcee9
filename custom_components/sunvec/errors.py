"""What each error of the Sunvec client means to the user: the one map of them.

The config flow shows an error's ``key`` on its ``field`` (``config.error.<key>``);
the coordinator raises it as a translated exception (``exceptions.<key>``) and tells
the scheduler how polling goes on (``failure``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from homeassistant.const import CONF_TOKEN

from .api import (
    SunvecAuthenticationError,
    SunvecBusyError,
    SunvecConnectionError,
    SunvecDeviceNotAuthorizedError,
    SunvecError,
    SunvecNotApiError,
    SunvecNotFoundError,
    SunvecParameterError,
    SunvecRateLimitError,
    SunvecRedirectError,
)
from .const import CONF_API_ADDRESS, CONF_WIFI_SN

BASE = "base"


class Failure(StrEnum):
    """How a failed call changes polling."""

    AUTH = "auth"
    """The token was refused: no more polls until the user re-authenticates."""
    RATE_LIMITED = "rate_limited"
    """The cloud refused the call for its rate limit: the whole account pauses."""
    TRANSIENT = "transient"
    """Anything else: back off and try again."""


@dataclass(frozen=True, slots=True)
class ErrorMeaning:
    """What one kind of client error means."""

    key: str
    """The translation key, under ``config.error`` and under ``exceptions``."""
    field: str
    """The config-flow field the error is about, or ``base``."""
    failure: Failure
    """How polling goes on after it."""


# Most specific first: the first class an error is an instance of decides.
MEANINGS: tuple[tuple[type[SunvecError], ErrorMeaning], ...] = (
    (SunvecAuthenticationError, ErrorMeaning("invalid_auth", CONF_TOKEN, Failure.AUTH)),
    (
        SunvecDeviceNotAuthorizedError,
        ErrorMeaning("device_not_authorized", CONF_WIFI_SN, Failure.TRANSIENT),
    ),
    (SunvecNotFoundError, ErrorMeaning("not_found", CONF_WIFI_SN, Failure.TRANSIENT)),
    (
        SunvecParameterError,
        ErrorMeaning("invalid_input", CONF_WIFI_SN, Failure.TRANSIENT),
    ),
    (SunvecRateLimitError, ErrorMeaning("rate_limited", BASE, Failure.RATE_LIMITED)),
    (SunvecBusyError, ErrorMeaning("cloud_busy", BASE, Failure.TRANSIENT)),
    (SunvecNotApiError, ErrorMeaning("not_api", CONF_API_ADDRESS, Failure.TRANSIENT)),
    (
        SunvecRedirectError,
        ErrorMeaning("redirected", CONF_API_ADDRESS, Failure.TRANSIENT),
    ),
    (SunvecConnectionError, ErrorMeaning("cannot_connect", BASE, Failure.TRANSIENT)),
)
OTHER = ErrorMeaning("api_error", BASE, Failure.TRANSIENT)
UNEXPECTED = ErrorMeaning("unknown", BASE, Failure.TRANSIENT)
"""Anything else raised while polling or checking: a bug, or a reply nobody foresaw."""


def meaning_of(err: Exception) -> ErrorMeaning:
    """Return what an error of the client (or anything else raised) means."""
    if not isinstance(err, SunvecError):
        return UNEXPECTED
    return next((meaning for kind, meaning in MEANINGS if isinstance(err, kind)), OTHER)
