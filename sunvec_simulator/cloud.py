"""The simulated Sunvec Connect cloud: tokens, inverters, rate limits, faults and replies.

Rate limits use fixed windows of the cloud's clock: the UTC calendar minute and the UTC
calendar day. Every request with a valid token that is not refused counts in both windows;
refused requests do not count (they are tallied in ``requests_rate_limited``). With
``lockout_after`` set, that many refusals in a row lock the token out for
``lockout_seconds``: every call in that time gets the lock-out reply.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
import hashlib
import json
import math
from typing import Any
from zoneinfo import ZoneInfo

from .clock import real_clock
from .faults import (
    LOCKOUT_MESSAGE,
    PERSISTENT_RECORD_FAULTS,
    REPLY_FAULTS,
    ActiveFault,
    Fault,
    normalise_params,
)
from .inverter import InverterKind, SimulatedInverter, Upload, UploadSchedule

QUERY_SUCCESS = "Query success!"
SERVER_BUSY = "The server is busy. Please try again later!"
CODE_LOCKOUT = 1
UTC_DATE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
"""How ``utcDateTime`` is written (the field is undocumented; this shape is a guess)."""
ERROR_MESSAGES = {
    1001: "Interface unauthorized",
    1002: "Parameter validation failed",
    1003: "Data unauthorized",
    1004: "Duplicate data",
    2001: "Operation failed",
    2002: "Data not found",
    # Seen in the field, not in the vendor document.
    103: "token invalid",
    3: "maximum call threshold",
    104: "current minute > threshold",
}
CODE_DAILY_LIMIT = 3
CODE_MINUTE_LIMIT = 104

_HTTP_REASONS = {
    302: "Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer: status, body text and content type."""

    status: int
    body: str
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Usage:
    minute: int = -1
    minute_count: int = 0
    day: int = -1
    day_count: int = 0
    refusals_in_a_row: int = 0
    locked_until: float = -math.inf


def _reply(
    code: int, exception: str | None = None, result: Any = None
) -> dict[str, Any]:
    """The common reply object, keys in the vendor's order."""
    if code == 0:
        return {
            "success": True,
            "exception": QUERY_SUCCESS,
            "result": result,
            "code": 0,
        }
    return {
        "success": False,
        "exception": exception
        if exception is not None
        else ERROR_MESSAGES.get(code, "Operation failed"),
        "result": None,
        "code": code,
    }


def _refusal(code: int | None, exception: str | None) -> dict[str, Any]:
    """A refusal; without a code it has only the older shape's three keys."""
    if code is not None:
        return _reply(code, exception)
    return {
        "success": False,
        "exception": exception if exception is not None else ERROR_MESSAGES[104],
        "result": None,
    }


def _lockout_message(seconds: float) -> str:
    """The field's lock-out text, naming the pause if it is not an hour."""
    if seconds == 3600:
        return LOCKOUT_MESSAGE
    if seconds % 3600 == 0:
        return LOCKOUT_MESSAGE.replace("hour", f"{seconds / 3600:g} hours")
    return LOCKOUT_MESSAGE.replace("hour", f"{math.ceil(seconds / 60)} minutes")


def _nested_json(depth: int) -> str:
    """A success reply whose ``result`` is ``depth`` arrays deep (json.dumps would recurse)."""
    result = "[" * depth + "]" * depth
    return (
        f'{{"success":true,"exception":"{QUERY_SUCCESS}","result":{result},"code":0}}'
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _html_error(status: int, detail: str = "") -> str:
    title = f"{status} {_HTTP_REASONS[status]}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n{detail}<hr><center>nginx</center>\r\n"
        "</body>\r\n</html>\r\n"
    )


def _echo(where: str, token: str) -> Reply:
    """A reply that echoes the token where a careless cloud or proxy might."""
    if where == "exception":
        body = _reply(1001, f"Interface unauthorized: tokenId {token} is not valid")
        return Reply(200, json.dumps(body))
    if where == "result":
        body = {
            "success": False,
            "exception": QUERY_SUCCESS,
            "result": f"tokenId {token} did not access!",
        }
        return Reply(200, json.dumps(body))
    if where == "html":
        detail = f"<p>upstream refused tokenId={token}</p>\r\n"
        return Reply(502, _html_error(502, detail), "text/html")
    location = f"https://api.sunvec-elsewhere.example/{token}/api/v2/?tokenId={token}"
    return Reply(302, _html_error(302), "text/html", {"Location": location})


class SunvecCloud:
    """A Sunvec Connect cloud with its tokens and inverters, driven by an injectable clock."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        seed: int = 0,
        rate_limit_per_minute: int | None = 10,
        rate_limit_per_day: int | None = 10_000,
        upload_interval: float = 300.0,
        upload_jitter: float = 5.0,
        missed_upload_probability: float = 0.02,
        hang_seconds: float = 60.0,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        lockout_after: int | None = None,
        lockout_seconds: float = 3600.0,
        utc_date_time: bool = False,
    ) -> None:
        """Create an empty cloud; ``clock`` returns aware datetimes (default: real time).

        ``sleep`` is what a HANG waits with (tests pass one they release themselves).
        ``lockout_after``: refusals in a row that lock a token out for
        ``lockout_seconds`` (None: never). ``utc_date_time``: records carry the
        undocumented ``utcDateTime`` (right, unless UTC_TIME_OFF says otherwise).
        """
        if lockout_after is not None and lockout_after < 1:
            raise ValueError("lockout_after must be a positive number of refusals")
        if lockout_seconds <= 0:
            raise ValueError("lockout_seconds must be positive")
        if upload_interval < 1.0:
            raise ValueError("upload_interval must be at least a second")
        self._clock = clock or real_clock
        self.seed = seed
        self.rate_limit_per_minute = rate_limit_per_minute
        self.rate_limit_per_day = rate_limit_per_day
        self.hang_seconds = hang_seconds
        self._sleep = sleep
        self.lockout_after = lockout_after
        self.lockout_seconds = lockout_seconds
        self.utc_date_time = utc_date_time
        self._schedule = UploadSchedule(
            seed=seed,
            interval=upload_interval,
            jitter=max(upload_jitter, 0.0),
            missed_probability=missed_upload_probability,
        )
        self._tokens: set[str] = set()
        self._inverters: dict[str, SimulatedInverter] = {}
        self._reply_faults: list[ActiveFault] = []
        self._usage: dict[str, _Usage] = {}
        self.requests_served: dict[str, int] = Counter()
        """Per token (``""`` when none was sent): every request answered, errors included."""
        self.requests_rate_limited: dict[str, int] = Counter()
        """Per token: requests refused for the rate limit (real or forced, lock-outs and
        HTTP 429 included)."""
        self.printable_tokens: set[str] = set()
        """Tokens that may be shown in full (the demo's); others are shown as a short hash."""

    # -- set-up ------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The cloud's current time, aware UTC."""
        now = self._clock()
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("the clock must return aware datetimes")
        return now.astimezone(UTC)

    def add_token(self, token: str) -> None:
        """Register a tokenId."""
        if not token:
            raise ValueError("a token cannot be empty")
        self._tokens.add(token)

    def add_inverter(
        self,
        token: str,
        wifi_sn: str,
        *,
        kind: InverterKind,
        inverter_sn: str | None = None,
        timezone: str = "Europe/Amsterdam",
        latitude: float = 52.37,
        longitude: float = 4.90,
        peak_power_w: float = 5000.0,
    ) -> SimulatedInverter:
        """Add an inverter visible to ``token`` (registering the token if it is new)."""
        if wifi_sn in self._inverters:
            raise ValueError(f"{wifi_sn} already exists")
        self.add_token(token)
        inverter = SimulatedInverter(
            token=token,
            wifi_sn=wifi_sn,
            kind=kind,
            inverter_sn=inverter_sn,
            timezone=ZoneInfo(timezone),
            latitude=latitude,
            longitude=longitude,
            peak_power_w=peak_power_w,
            schedule=self._schedule,
            clock=self.now,
        )
        self._inverters[wifi_sn] = inverter
        return inverter

    def inverter(self, wifi_sn: str) -> SimulatedInverter:
        """The inverter with this wifiSn (KeyError if none)."""
        return self._inverters[wifi_sn]

    @property
    def inverters(self) -> list[SimulatedInverter]:
        """Every inverter, in the order they were added."""
        return list(self._inverters.values())

    def token_label(self, token: str | None) -> str:
        """How a token may be shown: in full for demo tokens, else as a short hash."""
        if not token:
            return "(none)"
        if token in self.printable_tokens:
            return token
        return "token-" + hashlib.sha256(token.encode()).hexdigest()[:8]

    def locked_until(self, token: str) -> datetime | None:
        """Until when the token is locked out, or None if it is not (now)."""
        usage = self._usage.get(token)
        if usage is None or usage.locked_until <= self.now().timestamp():
            return None
        return datetime.fromtimestamp(usage.locked_until, UTC)

    # -- faults ------------------------------------------------------------------------------

    def set_fault(
        self,
        fault: Fault,
        *,
        token: str | None = None,
        wifi_sn: str | None = None,
        count: int | None = None,
        **params: Any,
    ) -> None:
        """Turn a fault on for requests/inverters matching ``token`` and ``wifi_sn``.

        Reply-level faults change the next ``count`` matching replies (shared count; None:
        until cleared). Record-level faults change each matching inverter's next ``count``
        uploads (default 1); FUTURE_UPLOAD_TIME and UPLOADS_STOPPED last until cleared.
        """
        fault = Fault(fault)
        if count is not None and (
            isinstance(count, bool) or not isinstance(count, int) or count < 1
        ):
            raise ValueError("count must be a positive integer or None")
        checked = normalise_params(fault, params)
        if fault in REPLY_FAULTS:
            self._reply_faults.append(
                ActiveFault(fault, token, wifi_sn, count, checked)
            )
            return
        remaining = None if fault in PERSISTENT_RECORD_FAULTS else (count or 1)
        scope = ActiveFault(fault, token, wifi_sn)
        targets = [
            inverter
            for inverter in self._inverters.values()
            if scope.matches(inverter.token, inverter.wifi_sn)
        ]
        if not targets:
            raise ValueError("no inverter matches the fault's token and wifi_sn")
        now = self.now()
        for inverter in targets:
            inverter.add_fault(
                ActiveFault(fault, token, wifi_sn, remaining, dict(checked)), now
            )

    def clear_faults(self) -> None:
        """Turn every fault off."""
        self._reply_faults.clear()
        now = self.now()
        for inverter in self._inverters.values():
            inverter.clear_faults(now)

    def describe_faults(self) -> list[dict[str, Any]]:
        """Faults in force, for humans (tokens masked)."""
        described = [
            fault.describe(token_label=self._scope_label(fault.token))
            for fault in self._reply_faults
        ]
        for inverter in self._inverters.values():
            for fault in inverter.active_faults:
                entry = fault.describe(token_label=self._scope_label(fault.token))
                entry["inverter"] = inverter.wifi_sn
                entry.pop("after", None)
                described.append(entry)
        return described

    def _scope_label(self, token: str | None) -> str | None:
        return None if token is None else self.token_label(token)

    def _take(
        self, fault: Fault, token: str | None, wifi_sn: str | None
    ) -> ActiveFault | None:
        """Use up one application of the first matching reply-level ``fault``, if any."""
        for active in self._reply_faults:
            if active.fault is fault and active.matches(token, wifi_sn):
                active.use()
                if active.spent:
                    self._reply_faults.remove(active)
                return active
        return None

    # -- requests ----------------------------------------------------------------------------

    async def realtime_info(self, token: str | None, wifi_sn: str | None) -> Reply:
        """Answer ``POST /api/v2/dataAccess/realtimeInfo/get``.

        ``wifi_sn`` is None when the body was not JSON or had no string ``wifiSn``.
        """
        self.requests_served[token or ""] += 1
        if self._take(Fault.HANG, token, wifi_sn):
            await self._sleep(self.hang_seconds)
        if (proxy := self._proxy_reply(token, wifi_sn)) is not None:
            return proxy
        text = json.dumps(self._api_reply(token, wifi_sn), separators=(",", ":"))
        if nested := self._take(Fault.NESTED_JSON, token, wifi_sn):
            text = _nested_json(nested.params["depth"])
        if self._take(Fault.MALFORMED_JSON, token, wifi_sn):
            text = text[: len(text) // 2]
        return Reply(200, text)

    def _proxy_reply(self, token: str | None, wifi_sn: str | None) -> Reply | None:
        """What answers before the API does: an echo, a redirect, a 429 or a 5xx page."""
        if echo := self._take(Fault.ECHO_TOKEN, token, wifi_sn):
            return _echo(echo.params["where"], token or "")
        if redirect := self._take(Fault.REDIRECT, token, wifi_sn):
            location = redirect.params["location"]
            return Reply(
                redirect.params["status"], "", "text/html", {"Location": location}
            )
        if limited := self._take(Fault.HTTP_429, token, wifi_sn):
            self.requests_rate_limited[token or ""] += 1
            return self._http_429(
                limited.params["retry_after"], limited.params["http_date"]
            )
        for status, fault in ((500, Fault.HTTP_500), (502, Fault.HTTP_502)):
            if self._take(fault, token, wifi_sn):
                return Reply(status, _html_error(status), "text/html")
        return None

    def _http_429(self, retry_after: int | None, http_date: bool) -> Reply:
        """HTTP 429 with the cloud's Date and, unless None, Retry-After."""
        now = self.now()
        headers = {"Date": format_datetime(now, usegmt=True)}
        if retry_after is not None:
            headers["Retry-After"] = (
                format_datetime(now + timedelta(seconds=retry_after), usegmt=True)
                if http_date
                else str(retry_after)
            )
        return Reply(429, _html_error(429), "text/html", headers)

    def _api_reply(self, token: str | None, wifi_sn: str | None) -> dict[str, Any]:
        if (
            not token
            or token not in self._tokens
            or self._take(Fault.REVOKED_TOKEN, token, wifi_sn)
        ):
            return _reply(1001)
        now = self.now()
        usage = self._usage.setdefault(token, _Usage())
        if now.timestamp() < usage.locked_until:
            self.requests_rate_limited[token] += 1
            return _reply(CODE_LOCKOUT, _lockout_message(self.lockout_seconds))
        for fault in (Fault.RATE_LIMITED, Fault.LOCKOUT):
            if forced := self._take(fault, token, wifi_sn):
                self.requests_rate_limited[token] += 1
                return _refusal(forced.params["code"], forced.params["exception"])
        refusal = self._count_call(usage, math.floor(now.timestamp()))
        if refusal is not None:
            self.requests_rate_limited[token] += 1
            if self._locks_out(usage, now.timestamp()):
                return _reply(CODE_LOCKOUT, _lockout_message(self.lockout_seconds))
            return _reply(refusal)
        if forced := self._take(Fault.ERROR_CODE, token, wifi_sn):
            return _reply(forced.params["code"], forced.params["exception"])
        if reason := self._take(Fault.REASON_IN_RESULT, token, wifi_sn):
            return {
                "success": False,
                "exception": reason.params["exception"],
                "result": reason.params["reason"],
            }
        if self._take(Fault.SERVER_BUSY, token, wifi_sn):
            return _refusal(None, SERVER_BUSY)
        if not wifi_sn:
            return _reply(1002)
        inverter = self._inverters.get(wifi_sn)
        if inverter is None:
            return _reply(2002)
        if inverter.token != token:
            return _reply(1003)
        upload = inverter.latest(math.floor(now.timestamp()))
        if upload is None:
            return _reply(2002)
        return _reply(0, result=self._served_record(upload, token, wifi_sn))

    def _served_record(
        self, upload: Upload, token: str, wifi_sn: str
    ) -> dict[str, Any]:
        record = dict(upload.record)
        if self._take(Fault.NULL_VALUES, token, wifi_sn):
            record = {
                key: None if _is_number(value) else value
                for key, value in record.items()
            }
        if self._take(Fault.NUMBERS_AS_STRINGS, token, wifi_sn):
            record = {
                key: str(value) if _is_number(value) else value
                for key, value in record.items()
            }
        off = self._take(Fault.UTC_TIME_OFF, token, wifi_sn)
        if self.utc_date_time or off:
            shift = timedelta(hours=off.params["hours"] if off else 0.0)
            utc = upload.available_at + shift
            record["utcDateTime"] = utc.strftime(UTC_DATE_TIME_FORMAT)
        return record

    def _locks_out(self, usage: _Usage, now: float) -> bool:
        """Count a refusal in a row; whether it starts a lock-out."""
        usage.refusals_in_a_row += 1
        if self.lockout_after is None or usage.refusals_in_a_row < self.lockout_after:
            return False
        usage.refusals_in_a_row = 0
        usage.locked_until = now + self.lockout_seconds
        return True

    def _count_call(self, usage: _Usage, now: int) -> int | None:
        """Count a call in the token's windows; the refusal code if over a limit."""
        minute, day = now // 60, now // 86_400
        if usage.minute != minute:
            usage.minute, usage.minute_count = minute, 0
        if usage.day != day:
            usage.day, usage.day_count = day, 0
        if (
            self.rate_limit_per_day is not None
            and usage.day_count >= self.rate_limit_per_day
        ):
            return CODE_DAILY_LIMIT
        if (
            self.rate_limit_per_minute is not None
            and usage.minute_count >= self.rate_limit_per_minute
        ):
            return CODE_MINUTE_LIMIT
        usage.minute_count += 1
        usage.day_count += 1
        usage.refusals_in_a_row = 0
        return None

    # -- statistics --------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Requests served and refused per token, uploads per inverter (tokens masked)."""
        now = self.now()
        return {
            "now": now.isoformat(),
            "requests_served": {
                self.token_label(token): count
                for token, count in self.requests_served.items()
            },
            "requests_rate_limited": {
                self.token_label(token): count
                for token, count in self.requests_rate_limited.items()
            },
            "uploads": {
                inverter.wifi_sn: len(inverter.uploads(now))
                for inverter in self._inverters.values()
            },
            "faults": self.describe_faults(),
        }
