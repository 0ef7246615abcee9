"""Client for the Sunvec Connect realtime API.

Knows nothing of Home Assistant: it takes an aiohttp session, the API address and the
token, and raises exceptions from one hierarchy under :class:`SunvecError`. Nothing else
leaves it but cancellation: whatever the cloud, a proxy or the network does becomes a
record or one of these errors. The token travels only in the ``tokenId`` header and only
to the configured origin; no error the client raises holds it, in its message, its
attributes or its chain of causes.
"""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
import json
import logging
import re
from typing import Any, Final, NamedTuple
from urllib.parse import quote, quote_plus

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from .models import RealtimeData

_LOGGER = logging.getLogger(__name__)

REALTIME_PATH: Final = "/api/v2/dataAccess/realtimeInfo/get"
DEFAULT_REQUEST_TIMEOUT: Final = 10.0
MAX_REPLY_BYTES: Final = 256 * 1024
"""A realtime reply is under 1 KiB and an error page a few; more is read as malformed."""
MAX_REDIRECTS: Final = 3
"""Redirects to the same origin followed per call; others are never followed."""
MAX_RETRY_AFTER: Final = 86_400.0
DEFAULT_LOCKOUT_SECONDS: Final = 3_600.0

# Error codes of the vendor document, and those seen in the field (part 2 of the API doc).
CODE_AUTHENTICATION: Final = 1001
CODE_TOKEN_INVALID: Final = 103
CODE_PARAMETER: Final = 1002
CODE_DEVICE_NOT_AUTHORIZED: Final = 1003
CODE_DUPLICATE: Final = 1004
CODE_OPERATION_FAILED: Final = 2001
CODE_NOT_FOUND: Final = 2002
RATE_LIMIT_CODES: Final = frozenset({3, 104})
LOCKOUT_CODES: Final = frozenset({1})

# What the field has seen in the texts (API doc, part 2), and the usual English for it.
_LOCKOUT_TEXT = re.compile(r"violation|prohibit", re.IGNORECASE)
_RATE_LIMIT_TEXT = re.compile(
    r"threshold|too many (?:requests|calls)|rate.?limit|too frequent", re.IGNORECASE
)
_BUSY_TEXT = re.compile(r"\bbusy\b|try again later", re.IGNORECASE)
_SUCCESS_TEXT = re.compile(r"\s*(?:query|operation)?\s*success\s*!?\s*", re.IGNORECASE)
_NUMBER_WORDS: Final = {
    "a": 1.0, "an": 1.0, "next": 1.0, "one": 1.0, "two": 2.0, "three": 3.0,
    "four": 4.0, "five": 5.0, "six": 6.0, "twelve": 12.0,
}  # fmt: skip
_DURATION = re.compile(
    r"(?:(?P<number>\d{1,4}(?:\.\d+)?)\s*|\b(?P<word>"
    + "|".join(_NUMBER_WORDS)
    + r")\s+)(?P<unit>hours?|hrs?|minutes?|mins?)\b",
    re.IGNORECASE | re.ASCII,
)
_CHARSET = re.compile(r"charset=\"?([\w.:-]{1,40})", re.IGNORECASE | re.ASCII)
_CODE_TEXT = re.compile(r"[+-]?\d{1,9}", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_MAX_JSON_INT_DIGITS = 30
_MAX_MESSAGE_LENGTH = 200
_REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
# 4xx replies that say nothing about the address: the token, a proxy, a pause.
_NOT_ABOUT_THE_ADDRESS: Final = frozenset({401, 403, 407, 408, 425, 429})
_REDACTED = "**REDACTED**"
_SERVICE_API_HINT = (
    "use the API address shown in the Sunvec Connect portal under service → API"
)


class SunvecError(Exception):
    """Base of every error the client raises."""


class SunvecConnectionError(SunvecError):
    """The cloud could not be reached or answered like a broken proxy."""


class SunvecNotApiError(SunvecConnectionError):
    """A server answered at the API address, but it is not the Sunvec API (e.g. HTTP 404)."""

    def __init__(self, message: str, status: int) -> None:
        """Keep the HTTP status that showed it."""
        super().__init__(message)
        self.status = status


class SunvecRedirectError(SunvecConnectionError):
    """The cloud redirects to another origin, where the token is never sent."""

    def __init__(self, message: str, location: str) -> None:
        """Keep the new address (without query string, never with the token)."""
        super().__init__(message)
        self.location = location


class SunvecMalformedReplyError(SunvecError):
    """The cloud answered, but not with a reply of the documented shape."""


class SunvecApiError(SunvecError):
    """The cloud refused the request with an error code or reason."""

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


class SunvecBusyError(SunvecApiError):
    """The cloud says it is busy and to try again later: transient."""


class SunvecRateLimitError(SunvecApiError):
    """Too many calls for this token, or the token is locked out for a while.

    Recognised by HTTP 429, the codes 3, 104 and (lock-out) 1, or the words of the reply.
    ``retry_after`` is how many seconds the cloud asks to wait (HTTP ``Retry-After``, or
    the hour a lock-out announces), None when it did not say. ``lockout`` is True when
    the cloud refuses the token for a while after repeated violations.
    """

    def __init__(
        self,
        message: str,
        code: int | None = None,
        *,
        retry_after: float | None = None,
        lockout: bool = False,
    ) -> None:
        """Keep the code, the message, the wait asked for and whether it is a lock-out."""
        super().__init__(message, code)
        self.retry_after = retry_after
        self.lockout = lockout


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


def normalize_token(token: str) -> str:
    """Return the token without surrounding blanks.

    Raises ValueError when it is empty or holds a line break, control or invisible
    character (from a copy and paste), which could never be sent in an HTTP header.
    """
    normalized = token.strip()
    if not normalized:
        raise ValueError("The token is empty")
    for char in normalized:
        if char != " " and not char.isprintable():
            raise ValueError(
                f"The token contains a control or invisible character (U+{ord(char):04X});"
                " copy it again from service → API in the Sunvec Connect portal"
            )
    return normalized


def parse_reply(payload: Any) -> RealtimeData:
    """Turn a decoded realtime reply into a record, or raise the matching SunvecError."""
    return _parse_reply(payload, _keep)


def _keep(text: str) -> str:
    return text


def _parse_reply(payload: Any, scrub: Callable[[str], str]) -> RealtimeData:
    if not isinstance(payload, dict):
        raise SunvecMalformedReplyError("The reply is not a JSON object")
    code = _as_code(payload.get("code"))
    if payload.get("success") is not True or code not in (0, None):
        raise _api_error(payload, scrub)
    result = payload.get("result")
    if not isinstance(result, dict):
        raise SunvecMalformedReplyError("The reply has no result object")
    return RealtimeData.from_dict(result)


def _as_code(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e9:
        return int(value)
    if isinstance(value, str) and _CODE_TEXT.fullmatch(value.strip()):
        return int(value)
    return None


def _as_text(value: Any, scrub: Callable[[str], str]) -> str:
    """A cloud text fit for a message: scrubbed first, then cleaned and shortened."""
    if not isinstance(value, str):
        return ""
    text = scrub(value).encode(errors="replace").decode()  # scrubbed before any cut
    return _CONTROL.sub(" ", text).strip()[:_MAX_MESSAGE_LENGTH]


def _refusal(
    payload: Mapping[str, Any], scrub: Callable[[str], str]
) -> tuple[int | None, str, str]:
    """The code, the reason and all the words of a refusal.

    When ``result`` is a string it is the reason, whatever ``exception`` says; an
    ``exception`` that only says "success" is no reason.
    """
    code = _as_code(payload.get("code"))
    exception = _as_text(payload.get("exception"), scrub)
    reason = _as_text(payload.get("result"), scrub)
    if not reason and not _SUCCESS_TEXT.fullmatch(exception):
        reason = exception
    return code, reason, f"{exception} {reason}"


def _api_error(
    payload: Mapping[str, Any], scrub: Callable[[str], str]
) -> SunvecApiError:
    """The error a refusal stands for, by its code or by its words.

    Words decide only where the code does not say what happened: no code, an unknown
    one, or 2001 ("operation failed").
    """
    code, reason, words = _refusal(payload, scrub)
    if code is not None:
        text = f"Sunvec cloud error {code}: {reason or 'no reason given'}"
    else:
        text = reason or "The cloud refused the request without giving a reason"
    known = _ERRORS_BY_CODE.get(code) if code is not None else None
    specific = known if code != CODE_OPERATION_FAILED else None
    if code in LOCKOUT_CODES or (specific is None and _is_lockout(code, words)):
        return SunvecRateLimitError(
            text, code, retry_after=_announced_pause(words), lockout=True
        )
    if code in RATE_LIMIT_CODES or (
        specific is None and _RATE_LIMIT_TEXT.search(words)
    ):
        return SunvecRateLimitError(text, code)
    if specific is not None:
        return specific(text, code)
    if _BUSY_TEXT.search(words):
        return SunvecBusyError(text, code)
    return (known or SunvecApiError)(text, code)


def _is_lockout(code: int | None, words: str) -> bool:
    return code in LOCKOUT_CODES or _LOCKOUT_TEXT.search(words) is not None


def _announced_pause(text: str) -> float:
    """Seconds a lock-out text announces ("within the next hour", "2 hours"); else 1 h."""
    if match := _DURATION.search(text):
        if match["number"] is not None:
            amount = float(match["number"])
        else:
            amount = _NUMBER_WORDS[match["word"].lower()]
        unit = 3600.0 if match["unit"].lower().startswith("h") else 60.0
        if 0 < amount * unit <= MAX_RETRY_AFTER:
            return amount * unit
    return DEFAULT_LOCKOUT_SECONDS


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds ``Retry-After`` asks to wait: delta-seconds or an HTTP-date.

    A date counts from the reply's ``Date`` header if it has a readable one, else from
    now. Nonsense gives None; the wait is capped at a day and is never negative.
    """
    value = headers.get("Retry-After", "").strip()
    if value.isascii() and value.isdigit():
        return min(float(value[:10]), MAX_RETRY_AFTER)
    until = _http_date(value)
    if until is None:
        return None
    since = _http_date(headers.get("Date", "")) or datetime.now(UTC)
    return min(max((until - since).total_seconds(), 0.0), MAX_RETRY_AFTER)


def _http_date(value: str) -> datetime | None:
    if not value or len(value) > 64:
        return None
    try:
        parsed = parsedate_to_datetime(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ArithmeticError, IndexError, TypeError, ValueError):
        return None


def _redirect_target(url: URL, status: int, headers: Mapping[str, str]) -> URL | None:
    """The absolute address a redirect points to, or None if it is none or unusable."""
    location = headers.get("Location", "").strip()
    if status not in _REDIRECT_STATUSES or not location:
        return None
    try:
        target = url.join(URL(location))
    except ValueError:
        return None
    return target if target.absolute and target.host else None


def _same_origin(first: URL, second: URL) -> bool:
    return (first.scheme, first.host, first.port) == (
        second.scheme,
        second.host,
        second.port,
    )


def _load_json(text: str) -> tuple[bool, Any]:
    """Decode JSON; (False, None) if it is not. Huge integers become floats (then inf)."""
    try:
        return True, json.loads(text, parse_int=_json_int)
    except (RecursionError, ValueError):  # deep nesting, bad syntax
        return False, None


def _json_int(digits: str) -> int | float:
    return int(digits) if len(digits) <= _MAX_JSON_INT_DIGITS else float(digits)


class _HttpReply(NamedTuple):
    status: int
    headers: CIMultiDict[str]
    text: str


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
        """Keep the session, the normalised address and the token.

        Raises ValueError for an address or a token that cannot be used (see
        :func:`normalize_api_address` and :func:`normalize_token`).
        """
        self._session = session
        self.base_url = normalize_api_address(api_address)
        self._token = normalize_token(token)
        self._secrets = {self._token, quote(self._token), quote_plus(self._token)}
        self.request_timeout = request_timeout

    def __repr__(self) -> str:
        """Describe the client without its token."""
        return f"SunvecClient(base_url={self.base_url!r})"

    async def get_realtime(self, wifi_sn: str) -> RealtimeData:
        """Return the latest realtime record of the inverter with this registration number.

        Raises a SunvecError for anything but a record (ValueError for an empty number).
        """
        reply = await self._post(REALTIME_PATH, {"wifiSn": normalize_wifi_sn(wifi_sn)})
        return self.parse_response(reply.status, reply.text, reply.headers)

    def parse_response(
        self, status: int, text: str, headers: Mapping[str, str] | None = None
    ) -> RealtimeData:
        """Turn an HTTP status, body and headers into a record, or raise a SunvecError.

        Nothing else is raised, whatever the body holds; whatever the cloud echoes back,
        the token never reaches the error.
        """
        try:
            return self._parse(status, text, CIMultiDict(headers or {}))
        except SunvecError as err:
            error: SunvecError = err
        except Exception as err:  # noqa: BLE001 - the boundary: only SunvecError leaves
            error = SunvecMalformedReplyError(
                f"The reply could not be read ({type(err).__name__})"
            )
        # Raised here, outside the handlers, so that nothing chains to what was caught.
        raise self._scrubbed(error)

    def _parse(self, status: int, text: str, headers: CIMultiDict[str]) -> RealtimeData:
        """Decide first from the HTTP status, then from the body."""
        is_json, payload = _load_json(text)
        api_reply = is_json and isinstance(payload, dict)
        if status == 429:
            raise self._http_rate_limit(payload if api_reply else {}, headers)
        if api_reply and status >= 400 and "code" in payload:
            raise _api_error(payload, self._scrub)
        if status in _REDIRECT_STATUSES:
            raise self._redirect_error(status, headers)
        if status >= 500:
            raise SunvecConnectionError(f"The cloud answered HTTP {status}")
        if status in (401, 403):
            raise SunvecAuthenticationError(
                f"The cloud refused the token (HTTP {status})"
            )
        if status >= 400 and status not in _NOT_ABOUT_THE_ADDRESS:
            raise SunvecNotApiError(
                f"{self.base_url} answered HTTP {status}: the server was reached, but"
                f" the Sunvec API is not there; {_SERVICE_API_HINT}",
                status,
            )
        if status >= 300:
            raise SunvecConnectionError(f"The cloud answered HTTP {status}")
        if not is_json:
            if text.lstrip().startswith("<"):
                raise SunvecConnectionError(
                    "The cloud answered with a web page, not JSON"
                )
            if not text.strip():
                raise SunvecMalformedReplyError("The reply is empty")
            raise SunvecMalformedReplyError("The reply is not valid JSON")
        return _parse_reply(payload, self._scrub)

    def _http_rate_limit(
        self, payload: Mapping[str, Any], headers: Mapping[str, str]
    ) -> SunvecRateLimitError:
        """HTTP 429: ``Retry-After`` says how long; a lock-out reply in the body, why."""
        code, reason, words = _refusal(payload, self._scrub)
        lockout = _is_lockout(code, words)
        retry_after = _retry_after(headers)
        if retry_after is None and lockout:
            retry_after = _announced_pause(words)
        message = "Rate limited (HTTP 429)"
        if reason:
            message = f"{message}: {reason}"
        if retry_after is not None:
            message = f"{message}; retry after {retry_after:g} s"
        return SunvecRateLimitError(
            message, code, retry_after=retry_after, lockout=lockout
        )

    def _redirect_error(
        self, status: int, headers: Mapping[str, str]
    ) -> SunvecConnectionError:
        here = URL(f"{self.base_url}{REALTIME_PATH}")
        target = _redirect_target(here, status, headers)
        if target is None:
            return SunvecConnectionError(
                f"The cloud answered HTTP {status}, a redirect without a usable address"
            )
        if _same_origin(target, here):
            return SunvecConnectionError(
                f"The cloud redirected more than {MAX_REDIRECTS} times"
            )
        location = self._scrub(
            target.with_user(None).with_query(None).with_fragment(None).human_repr()
        )
        location = _CONTROL.sub("", location)[:_MAX_MESSAGE_LENGTH]
        return SunvecRedirectError(
            f"The cloud redirects to another address, {location}; the token is only"
            f" sent to {self.base_url}. If that is the new API address, enter it"
            " (see service → API in the Sunvec Connect portal)",
            location,
        )

    async def _post(self, path: str, body: dict[str, Any]) -> _HttpReply:
        """POST to the API: the status, headers and body text of its answer."""
        exchange: tuple[int, CIMultiDict[str], bytes | None] | None = None
        failure = ""
        try:
            async with asyncio.timeout(self.request_timeout):
                exchange = await self._post_following(
                    URL(f"{self.base_url}{path}"), body
                )
        except TimeoutError:
            failure = (
                f"Timeout after {self.request_timeout:g} s talking to {self.base_url}"
            )
        except Exception as err:  # noqa: BLE001 - the boundary: only SunvecError leaves
            failure = f"Cannot reach {self.base_url}: {self._describe(err)}"
        # Raised here, outside the handlers: aiohttp's errors carry the request headers.
        if exchange is None:
            raise self._scrubbed(SunvecConnectionError(failure))
        status, headers, raw = exchange
        if raw is None:
            raise SunvecMalformedReplyError(
                f"The reply is larger than {MAX_REPLY_BYTES // 1024} KiB"
            )
        return _HttpReply(status, headers, _decode_body(raw, headers))

    async def _post_following(
        self, url: URL, body: dict[str, Any]
    ) -> tuple[int, CIMultiDict[str], bytes | None]:
        """POST, following redirects within the origin only, at most MAX_REDIRECTS."""
        for _ in range(MAX_REDIRECTS):
            status, headers, raw = await self._post_once(url, body)
            target = _redirect_target(url, status, headers)
            if target is None or not _same_origin(target, url):
                return status, headers, raw
            _LOGGER.debug("HTTP %s: following to %s", status, self._scrub(target.path))
            url = target
        return await self._post_once(url, body)

    async def _post_once(
        self, url: URL, body: dict[str, Any]
    ) -> tuple[int, CIMultiDict[str], bytes | None]:
        """One POST: status, headers and body (None when over the size cap)."""
        response = await self._session.post(
            url,
            json=body,
            headers={"tokenId": self._token, "Accept": "application/json"},
            allow_redirects=False,
        )
        async with response:
            headers = CIMultiDict(response.headers)
            _LOGGER.debug("POST %s answered HTTP %s", url.path, response.status)
            if response.status in _REDIRECT_STATUSES:
                return response.status, headers, b""
            length = response.content_length
            if length is not None and length > MAX_REPLY_BYTES:
                return response.status, headers, None
            raw = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                raw += chunk
                if len(raw) > MAX_REPLY_BYTES:
                    return response.status, headers, None
            return response.status, headers, bytes(raw)

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, _REDACTED)
        return text

    def _describe(self, err: Exception) -> str:
        """What went wrong on the way: the error's text only, scrubbed before any cut."""
        text = self._scrub(str(err) or type(err).__name__)
        text = _CONTROL.sub(" ", text.encode(errors="replace").decode())
        return text[:_MAX_MESSAGE_LENGTH]

    def _scrubbed(self, error: SunvecError) -> SunvecError:
        """The error with the token out of its texts, and no chain or inner frames."""
        error.args = tuple(
            self._scrub(arg) if isinstance(arg, str) else arg for arg in error.args
        )
        for name, value in list(vars(error).items()):
            if isinstance(value, str):
                setattr(error, name, self._scrub(value))
        error.__cause__ = None
        error.__context__ = None
        return error.with_traceback(None)


def _decode_body(raw: bytes, headers: Mapping[str, str]) -> str:
    """The body as text: its declared charset if that is a text encoding, else UTF-8."""
    match = _CHARSET.search(headers.get("Content-Type", ""))
    try:
        charset = codecs.lookup(match[1] if match else "utf-8").name
        if charset == "utf-8":
            charset = "utf-8-sig"  # a byte order mark is no reason to fail
        return raw.decode(charset, errors="replace")
    except (LookupError, ValueError):  # an unknown or non-text codec
        return raw.decode("utf-8-sig", errors="replace")


async def answers_plain_http(
    session: aiohttp.ClientSession, api_address: str, wait: float = 5.0
) -> bool:
    """Return whether the API address answers over plain HTTP, asked without a token.

    For an address typed without a scheme whose HTTPS cannot be reached: the user
    may have to type ``http://``. Never raises; the token is never sent.
    """
    try:
        url = URL(normalize_api_address(api_address)).with_scheme("http")
        async with (
            asyncio.timeout(wait),
            session.post(
                url.with_path(url.path.rstrip("/") + REALTIME_PATH),
                json={},
                allow_redirects=False,
            ) as response,
        ):
            return response.status > 0
    except Exception:  # noqa: BLE001 - any failure means: no
        return False
