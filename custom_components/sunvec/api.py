"""Client for the Sunvec Connect realtime API.

Knows nothing of Home Assistant: it takes an aiohttp session, the API address and the
token, and raises exceptions from one hierarchy under :class:`SunvecError`. The token
travels only in the ``tokenId`` header; it is kept out of every message and repr.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any, Final

import aiohttp
from yarl import URL

from .models import RealtimeData

_LOGGER = logging.getLogger(__name__)

REALTIME_PATH: Final = "/api/v2/dataAccess/realtimeInfo/get"
DEFAULT_REQUEST_TIMEOUT: Final = 10.0

# Error codes of the vendor document, and those seen in the field (part 2 of the API doc).
CODE_AUTHENTICATION: Final = 1001
CODE_TOKEN_INVALID: Final = 103
CODE_PARAMETER: Final = 1002
CODE_DEVICE_NOT_AUTHORIZED: Final = 1003
CODE_DUPLICATE: Final = 1004
CODE_OPERATION_FAILED: Final = 2001
CODE_NOT_FOUND: Final = 2002
RATE_LIMIT_CODES: Final = frozenset({3, 104})
_RATE_LIMIT_TEXT = re.compile(r"threshold", re.IGNORECASE)
_MAX_MESSAGE_LENGTH = 200
_REDACTED = "**REDACTED**"


class SunvecError(Exception):
    """Base of every error the client raises."""


class SunvecConnectionError(SunvecError):
    """The cloud could not be reached or answered like a broken proxy."""


class SunvecMalformedReplyError(SunvecError):
    """The cloud answered, but not with a reply of the documented shape."""


class SunvecApiError(SunvecError):
    """The cloud refused the request with an error code."""

    def __init__(self, message: str, code: int | None = None) -> None:
        """Keep the code and the cloud's message."""
        super().__init__(message)
        self.code = code
        self.message = message


class SunvecAuthenticationError(SunvecApiError):
    """The token is wrong or revoked (codes 1001 and 103)."""


class SunvecDeviceNotAuthorizedError(SunvecApiError):
    """The registration number is not visible to this token (code 1003)."""


class SunvecParameterError(SunvecApiError):
    """The request failed the cloud's parameter validation (code 1002)."""


class SunvecNotFoundError(SunvecApiError):
    """No data for this registration number (code 2002)."""


class SunvecDuplicateError(SunvecApiError):
    """Duplicate data (code 1004)."""


class SunvecOperationFailedError(SunvecApiError):
    """The cloud says the operation failed (code 2001)."""


class SunvecRateLimitError(SunvecApiError):
    """Too many calls for this token (HTTP 429, codes 3 and 104, threshold texts)."""


_ERRORS_BY_CODE: Final[dict[int, type[SunvecApiError]]] = {
    CODE_AUTHENTICATION: SunvecAuthenticationError,
    CODE_TOKEN_INVALID: SunvecAuthenticationError,
    CODE_PARAMETER: SunvecParameterError,
    CODE_DEVICE_NOT_AUTHORIZED: SunvecDeviceNotAuthorizedError,
    CODE_DUPLICATE: SunvecDuplicateError,
    CODE_OPERATION_FAILED: SunvecOperationFailedError,
    CODE_NOT_FOUND: SunvecNotFoundError,
}


def normalize_api_address(address: str) -> str:
    """Return the base URL for whatever form of the API address a user pasted.

    ``host``, ``host:port``, ``https://host``, ``https://host/`` and the whole endpoint
    URL all give ``https://host[:port]``. HTTPS is the default; ``http://`` is kept only
    when given. A path before ``/api/`` is kept, in case the API sits behind a prefix.
    """
    text = address.strip()
    if not text:
        raise ValueError("The API address is empty")
    if "://" not in text:
        text = f"https://{text}"
    try:
        url = URL(text)
        port = url.explicit_port
    except ValueError as err:
        raise ValueError("The API address is not a valid URL") from err
    if url.scheme not in ("http", "https") or not url.host or url.user is not None:
        raise ValueError("The API address must be an http(s) host name")
    path = url.path
    if (index := path.find("/api/")) >= 0 or path.endswith("/api"):
        path = path[: index if index >= 0 else -len("/api")]
    base = URL.build(scheme=url.scheme, host=url.host.lower(), port=port)
    return f"{base}{path.rstrip('/')}" if path.strip("/") else str(base)


def normalize_wifi_sn(wifi_sn: str) -> str:
    """Return the registration number as the cloud expects it: no blanks, upper case."""
    normalized = "".join(wifi_sn.split()).upper()
    if not normalized:
        raise ValueError("The registration number is empty")
    return normalized


def parse_reply(payload: Any) -> RealtimeData:
    """Turn a decoded realtime reply into a record, or raise the matching error."""
    if not isinstance(payload, dict):
        raise SunvecMalformedReplyError("The reply is not a JSON object")
    code = _as_code(payload.get("code"))
    message = _as_message(payload.get("exception"))
    success = payload.get("success")
    if success is not True or code not in (0, None):
        raise _api_error(code, message)
    result = payload.get("result")
    if not isinstance(result, dict):
        raise SunvecMalformedReplyError("The reply has no result object")
    return RealtimeData.from_dict(result)


def _as_code(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _as_message(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    return value.strip()[:_MAX_MESSAGE_LENGTH]


def _api_error(code: int | None, message: str) -> SunvecApiError:
    text = f"Sunvec cloud error {code}: {message}" if code is not None else message
    if code in RATE_LIMIT_CODES or _RATE_LIMIT_TEXT.search(message):
        return SunvecRateLimitError(text or "Rate limited", code)
    error_class = _ERRORS_BY_CODE.get(code, SunvecApiError) if code else SunvecApiError
    return error_class(text or "The cloud reported an error without a message", code)


def _decode(status: int, text: str) -> Any:
    """Decode a reply body, deciding first from the HTTP status."""
    try:
        payload = json.loads(text)
    except ValueError:
        payload = None
    if status == 429:
        raise SunvecRateLimitError("Rate limited (HTTP 429)")
    if isinstance(payload, dict) and status >= 400 and "code" in payload:
        raise _api_error(
            _as_code(payload.get("code")), _as_message(payload.get("exception"))
        )
    if status >= 500:
        raise SunvecConnectionError(f"The cloud answered HTTP {status}")
    if status in (401, 403):
        raise SunvecAuthenticationError(f"The cloud refused the token (HTTP {status})")
    if status >= 400:
        raise SunvecConnectionError(
            f"The cloud answered HTTP {status}; is the API address right?"
        )
    if payload is None:
        if text.lstrip().startswith("<"):
            raise SunvecConnectionError("The cloud answered with a web page, not JSON")
        raise SunvecMalformedReplyError("The reply is not valid JSON")
    return payload


class SunvecClient:
    """Talks to the Sunvec Connect cloud for one API address and token."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        api_address: str,
        token: str,
        *,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    ) -> None:
        """Keep the session, the normalised address and the token."""
        self._session = session
        self.base_url = normalize_api_address(api_address)
        self._token = token.strip()
        self.request_timeout = request_timeout

    def __repr__(self) -> str:
        """Describe the client without its token."""
        return f"SunvecClient(base_url={self.base_url!r})"

    async def get_realtime(self, wifi_sn: str) -> RealtimeData:
        """Return the latest realtime record of the inverter with this registration number."""
        status, text = await self._post(
            REALTIME_PATH, {"wifiSn": normalize_wifi_sn(wifi_sn)}
        )
        return self.parse_response(status, text)

    def parse_response(self, status: int, text: str) -> RealtimeData:
        """Turn an HTTP status and body into a record, or raise the matching error.

        Whatever the cloud echoes back, the token never reaches the error's message.
        """
        try:
            return parse_reply(_decode(status, text))
        except SunvecApiError as err:
            if self._token and self._token in err.message:
                raise type(err)(self._scrub(err.message), err.code) from None
            raise
        except SunvecError as err:
            if self._token and self._token in str(err):
                raise type(err)(self._scrub(str(err))) from None
            raise

    async def _post(self, path: str, body: dict[str, Any]) -> tuple[int, str]:
        url = f"{self.base_url}{path}"
        try:
            async with asyncio.timeout(self.request_timeout):
                response = await self._session.post(
                    url,
                    json=body,
                    headers={"tokenId": self._token, "Accept": "application/json"},
                )
                async with response:
                    status = response.status
                    text = await response.text(errors="replace")
        except TimeoutError as err:
            raise SunvecConnectionError(
                f"Timeout after {self.request_timeout:g} s talking to {self.base_url}"
            ) from err
        except (aiohttp.ClientError, OSError) as err:
            raise SunvecConnectionError(
                self._scrub(f"Cannot reach {self.base_url}: {err}")
            ) from None
        _LOGGER.debug("POST %s answered HTTP %s", url, status)
        return status, text

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, _REDACTED) if self._token else text
