"""Tests of the Sunvec Connect client over real HTTP on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
import json
from pathlib import Path
import socket
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer
import pytest

from custom_components.sunvec import api
from custom_components.sunvec.api import (
    MAX_REDIRECTS,
    MAX_REPLY_BYTES,
    REALTIME_PATH,
    SunvecApiError,
    SunvecAuthenticationError,
    SunvecBusyError,
    SunvecClient,
    SunvecConnectionError,
    SunvecDeviceNotAuthorizedError,
    SunvecDuplicateError,
    SunvecError,
    SunvecMalformedReplyError,
    SunvecNotApiError,
    SunvecNotFoundError,
    SunvecOperationFailedError,
    SunvecParameterError,
    SunvecRateLimitError,
    SunvecRedirectError,
    normalize_api_address,
    normalize_token,
    normalize_wifi_sn,
    parse_reply,
)
from custom_components.sunvec.models import BatteryStatus, InverterStatus, RealtimeData

EXAMPLE = Path(__file__).parent / "fixtures" / "realtime_example.json"
TOKEN = "secret-token-20240820"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve(
    socket_enabled: None,
) -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Serve one handler for every POST over loopback; return its address."""
    servers: list[TestServer] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_post("/{path:.*}", handler)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return f"http://127.0.0.1:{server.port}"

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session."""
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.mark.parametrize(
    "address",
    [
        "api.sunvec-x.com",
        "  api.sunvec-x.com  ",
        "https://api.sunvec-x.com",
        "https://api.sunvec-x.com/",
        "HTTPS://API.Sunvec-X.com",
        "https://api.sunvec-x.com/api/v2/dataAccess/realtimeInfo/get",
        "api.sunvec-x.com/api/v2/dataAccess/realtimeInfo/get?x=1",
        "https://api.sunvec-x.com:443/",
    ],
)
def test_api_address_forms_give_one_base_url(address: str) -> None:
    """Whatever form a user pastes, the base URL is the same."""
    assert normalize_api_address(address) == "https://api.sunvec-x.com"


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("api.sunvec-x.com:8443", "https://api.sunvec-x.com:8443"),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("http://127.0.0.1:8765/api/v2/", "http://127.0.0.1:8765"),
        ("https://gw.example.com/sunvec/api/v2/x", "https://gw.example.com/sunvec"),
        ("https://gw.example.com/sunvec/", "https://gw.example.com/sunvec"),
    ],
)
def test_api_address_keeps_port_scheme_and_prefix(address: str, expected: str) -> None:
    """An explicit port, http:// and a path prefix are kept."""
    assert normalize_api_address(address) == expected


@pytest.mark.parametrize(
    "address",
    ["", "   ", "ftp://host", "https://", "http://user:pw@host", "http://[::1"],
)
def test_bad_api_addresses_are_refused(address: str) -> None:
    """Addresses that cannot be an API host raise ValueError."""
    with pytest.raises(ValueError):
        normalize_api_address(address)


def test_wifi_sn_is_normalised() -> None:
    """Blanks go, letters are upper case, an empty number is refused."""
    assert normalize_wifi_sn(" sut 123 vb1\n") == "SUT123VB1"
    with pytest.raises(ValueError):
        normalize_wifi_sn("  ")


async def test_vendor_example_parses_byte_for_byte(
    serve: Callable[[Handler], Awaitable[str]], session: aiohttp.ClientSession
) -> None:
    """The vendor's example reply, served as is, gives every documented value."""
    seen: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.Response:
        seen["token"] = request.headers.get("tokenId")
        seen["body"] = await request.json()
        seen["query"] = dict(request.query)
        return web.Response(body=EXAMPLE.read_bytes(), content_type="application/json")

    client = SunvecClient(session, await serve(handler), TOKEN)
    data = await client.get_realtime("sut12345vb1")

    assert seen == {"token": TOKEN, "body": {"wifiSn": "SUT12345VB1"}, "query": {}}
    assert data.inverter_sn == "H34******6008"
    assert data.wifi_module_sn == "SR******RM"
    assert (data.ac_power, data.yield_today, data.yield_total) == (152, 0.2, 2420.5)
    assert (data.feed_in_power, data.feed_in_energy, data.consume_energy) == (0, 0, 0)
    assert data.meter2_power is None
    assert data.battery_soc is None
    assert data.battery_power is None
    assert data.eps_power == (None, None, None)
    assert data.pv_power == (162, 0, None, None)
    assert data.inverter_type == "4"
    assert data.inverter_status is InverterStatus.NORMAL
    assert data.battery_status is None
    assert data.has_battery is False
    assert data.upload_time == datetime(2024, 8, 20, 9, 21, 43)
    assert data.upload_time.tzinfo is None


async def test_strings_nulls_and_odd_values_are_tolerated(
    serve: Callable[[Handler], Awaitable[str]], session: aiohttp.ClientSession
) -> None:
    """Numbers as strings are read, empty and non-finite values become None."""
    result = json.loads(EXAMPLE.read_text())["result"] | {
        "acpower": "152.5",
        "yieldtoday": "",
        "yieldtotal": "NaN",
        "feedinpower": "-1e999",
        "soc": " 87 ",
        "batPower": True,
        "inverterStatus": 109,
        "batStatus": 1,
        "inverterType": 4.0,
        "uploadTime": "20.08.2024 09:21",
        "utcDateTime": "2024-08-20T07:21:43Z",
        "someNewField": {"nested": 1},
    }
    result.pop("powerdc4")

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"success": True, "code": 0, "result": result})

    data = await SunvecClient(session, await serve(handler), TOKEN).get_realtime("X")

    assert data.ac_power == 152.5
    assert data.yield_today is None
    assert data.yield_total is None
    assert data.feed_in_power is None
    assert data.battery_soc == 87
    assert data.battery_power is None
    assert data.pv_power[3] is None
    assert data.inverter_status is InverterStatus.SLEEP
    assert data.battery_status is BatteryStatus.FAULT
    assert data.inverter_type == "4"
    assert data.upload_time is None
    assert data.utc_upload_time is not None
    assert data.utc_upload_time.isoformat() == "2024-08-20T07:21:43+00:00"
    assert data.has_battery is True


async def test_unknown_status_code_is_kept_but_not_mapped(
    serve: Callable[[Handler], Awaitable[str]], session: aiohttp.ClientSession
) -> None:
    """A status code outside the table keeps its code and maps to no state."""
    result = json.loads(EXAMPLE.read_text())["result"] | {
        "inverterStatus": "199",
        "batStatus": "7",
    }

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"success": True, "code": 0, "result": result})

    data = await SunvecClient(session, await serve(handler), TOKEN).get_realtime("X")
    assert data.inverter_status_code == "199"
    assert data.inverter_status is None
    assert data.battery_status is None


def _reply(code: int | str, exception: str) -> dict[str, Any]:
    return {"success": False, "exception": exception, "result": None, "code": code}


@pytest.mark.parametrize(
    ("status", "body", "content_type", "error"),
    [
        (200, _reply(1001, "Interface unauthorized"), None, SunvecAuthenticationError),
        (200, _reply(103, "token invalid"), None, SunvecAuthenticationError),
        (200, _reply(1002, "Parameter validation failed"), None, SunvecParameterError),
        (200, _reply(1003, "Data unauthorized"), None, SunvecDeviceNotAuthorizedError),
        (200, _reply(1004, "Duplicate data"), None, SunvecDuplicateError),
        (200, _reply(2001, "Operation failed"), None, SunvecOperationFailedError),
        (200, _reply(2002, "Data not found"), None, SunvecNotFoundError),
        (200, _reply(104, "current minute > threshold"), None, SunvecRateLimitError),
        (200, _reply(3, "maximum call threshold"), None, SunvecRateLimitError),
        (200, _reply(9999, "Maximum Call Threshold"), None, SunvecRateLimitError),
        (429, "Too Many Requests", "text/plain", SunvecRateLimitError),
        (200, _reply(4242, "Something new"), None, SunvecApiError),
        (200, {"success": False, "result": None}, None, SunvecApiError),
        (
            500,
            "<html><body>500 Internal Server Error</body></html>",
            "text/html",
            SunvecConnectionError,
        ),
        (
            502,
            "<html><body>502 Bad Gateway</body></html>",
            "text/html",
            SunvecConnectionError,
        ),
        (503, _reply(1001, "Interface unauthorized"), None, SunvecAuthenticationError),
        (401, "Unauthorized", "text/plain", SunvecAuthenticationError),
        (404, "<html>Not Found</html>", "text/html", SunvecNotApiError),
        (
            200,
            "<!DOCTYPE html><html>maintenance</html>",
            "text/html",
            SunvecConnectionError,
        ),
        (
            200,
            '{"success": true, "result": {',
            "application/json",
            SunvecMalformedReplyError,
        ),
        (200, "[1, 2, 3]", "application/json", SunvecMalformedReplyError),
        (
            200,
            {"success": True, "code": 0, "result": None},
            None,
            SunvecMalformedReplyError,
        ),
        (
            200,
            {"success": True, "code": 0, "result": [1]},
            None,
            SunvecMalformedReplyError,
        ),
    ],
)
async def test_replies_map_to_one_error_each(
    serve: Callable[[Handler], Awaitable[str]],
    session: aiohttp.ClientSession,
    status: int,
    body: Any,
    content_type: str | None,
    error: type[SunvecError],
) -> None:
    """Each kind of refusal raises its own error, decided from status, code and text."""

    async def handler(request: web.Request) -> web.Response:
        if content_type is None:
            return web.json_response(body, status=status)
        return web.Response(text=body, status=status, content_type=content_type)

    client = SunvecClient(session, await serve(handler), TOKEN)
    with pytest.raises(error) as raised:
        await client.get_realtime("SUT1")
    assert type(raised.value) is error
    assert TOKEN not in str(raised.value)


async def test_unknown_code_keeps_code_and_message(
    serve: Callable[[Handler], Awaitable[str]], session: aiohttp.ClientSession
) -> None:
    """A code the client does not know keeps the code and the cloud's message."""

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(_reply(4242, "Something new"))

    client = SunvecClient(session, await serve(handler), TOKEN)
    with pytest.raises(SunvecApiError) as raised:
        await client.get_realtime("SUT1")
    assert raised.value.code == 4242
    assert raised.value.message == "Sunvec cloud error 4242: Something new"


async def test_echoed_token_is_redacted(
    serve: Callable[[Handler], Awaitable[str]], session: aiohttp.ClientSession
) -> None:
    """A cloud that echoes the token in its message never gets it into the error."""

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(
            _reply(1001, f"token {request.headers['tokenId']} unknown")
        )

    client = SunvecClient(session, await serve(handler), TOKEN)
    with pytest.raises(SunvecAuthenticationError) as raised:
        await client.get_realtime("SUT1")
    assert TOKEN not in str(raised.value)
    assert raised.value.code == 1001
    assert "**REDACTED**" in str(raised.value)


async def test_timeout_is_a_connection_error(
    serve: Callable[[Handler], Awaitable[str]], session: aiohttp.ClientSession
) -> None:
    """A cloud that never answers fails after the request timeout."""
    never = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        await never.wait()
        raise AssertionError("unreachable")

    client = SunvecClient(session, await serve(handler), TOKEN, request_timeout=0.05)
    with pytest.raises(SunvecConnectionError, match="Timeout"):
        await client.get_realtime("SUT1")


async def test_reset_connection_is_a_connection_error(
    serve: Callable[[Handler], Awaitable[str]], session: aiohttp.ClientSession
) -> None:
    """A connection closed by the peer is a connection error."""

    async def handler(request: web.Request) -> web.Response:
        assert request.transport is not None
        request.transport.close()
        return web.Response()

    client = SunvecClient(session, await serve(handler), TOKEN)
    with pytest.raises(SunvecConnectionError):
        await client.get_realtime("SUT1")


async def test_refused_connection_is_a_connection_error(
    socket_enabled: None, session: aiohttp.ClientSession
) -> None:
    """Nothing listening on the port is a connection error."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = SunvecClient(session, f"http://127.0.0.1:{port}", TOKEN)
    with pytest.raises(SunvecConnectionError, match="Cannot reach"):
        await client.get_realtime("SUT1")


class _FailingResolver(AbstractResolver):
    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        raise OSError(-2, f"Name or service not known: {host}")

    async def close(self) -> None:
        """Nothing to close."""


async def test_dns_failure_is_a_connection_error() -> None:
    """A host name that does not resolve is a connection error."""
    connector = aiohttp.TCPConnector(resolver=_FailingResolver())
    async with aiohttp.ClientSession(connector=connector) as dns_session:
        client = SunvecClient(dns_session, "api.sunvec.invalid", TOKEN)
        with pytest.raises(SunvecConnectionError, match="Cannot reach"):
            await client.get_realtime("SUT1")


def test_repr_hides_the_token(session: aiohttp.ClientSession) -> None:
    """The client's repr shows where it talks to, never the token."""
    client = SunvecClient(session, "api.sunvec-x.com", TOKEN)
    assert repr(client) == "SunvecClient(base_url='https://api.sunvec-x.com')"
    assert TOKEN not in repr(client)


@pytest.mark.parametrize(
    ("field", "value", "attribute", "expected"),
    [
        ("inverterStatus", 102.5, "inverter_status_code", None),
        ("inverterStatus", None, "inverter_status", None),
        ("batStatus", None, "battery_status", None),
        ("utcDateTime", "yesterday", "utc_upload_time", None),
        (
            "utcDateTime",
            "2024-08-20T09:21:43+02:00",
            "utc_upload_time",
            datetime.fromisoformat("2024-08-20T07:21:43+00:00"),
        ),
        ("uploadTime", 20240820, "upload_time", None),
    ],
)
def test_odd_codes_and_times(
    field: str, value: Any, attribute: str, expected: Any
) -> None:
    """Codes and times in unexpected forms are read or dropped, never raised."""
    client = SunvecClient(None, "api.example.com", TOKEN)  # type: ignore[arg-type]
    reply = json.loads(EXAMPLE.read_text())
    reply["result"][field] = value
    data = client.parse_response(200, json.dumps(reply))
    assert getattr(data, attribute) == expected


def test_parse_reply_of_a_decoded_reply() -> None:
    """parse_reply takes the decoded JSON; codes as integral floats are codes."""
    reply = json.loads(EXAMPLE.read_text())
    assert parse_reply(reply).ac_power == 152
    with pytest.raises(SunvecDeviceNotAuthorizedError, match="1003"):
        parse_reply(_reply(1003, "Data unauthorized") | {"code": 1003.0})
    with pytest.raises(SunvecApiError) as raised:
        parse_reply(_reply(1003, "x") | {"code": 1e300})
    assert raised.value.code is None
    with pytest.raises(SunvecApiError) as raised:
        parse_reply(_reply(1003, "x") | {"code": True})
    assert raised.value.code is None


def test_code_sent_as_text_is_understood() -> None:
    """An error code sent as a string maps like the number."""
    client = SunvecClient(None, "api.example.com", TOKEN)  # type: ignore[arg-type]
    with pytest.raises(SunvecDeviceNotAuthorizedError):
        client.parse_response(200, json.dumps(_reply("1003", "Data unauthorized")))  # type: ignore[arg-type]


# -- the token -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "expected"),
    [("  abc123  ", "abc123"), ("abc123\n", "abc123"), ("ab c", "ab c")],
)
def test_token_is_stripped(token: str, expected: str) -> None:
    """Blanks and line breaks around a pasted token go."""
    assert normalize_token(token) == expected


@pytest.mark.parametrize(
    "token", ["", "  \n", "abc\ndef", "abc\rdef", "abc\x00def", "abc\u200bdef", "a\tb"]
)
def test_unusable_token_fails_at_construction(token: str) -> None:
    """A token no HTTP header can carry is refused with ValueError when the client is
    made, never with a traceback at request time."""
    with pytest.raises(ValueError, match="token") as raised:
        normalize_token(token)
    assert token.strip() == "" or "U+" in str(raised.value)
    with pytest.raises(ValueError, match="token"):
        SunvecClient(None, "api.example.com", token)  # type: ignore[arg-type]


# -- replies seen in the field (API document, part 2) ----------------------------------

LOCKOUT_TEXT = (
    "There have been several violations in a row, and the system will prohibit"
    " calls within the next hour"
)


def parse(
    status: int, body: Any, headers: dict[str, str] | None = None
) -> RealtimeData:
    """Parse a reply as the client does (no network): dicts are sent as JSON."""
    client = SunvecClient(None, "api.example.com", TOKEN)  # type: ignore[arg-type]
    text = body if isinstance(body, str) else json.dumps(body)
    return client.parse_response(status, text, headers)


def refusal(status: int, body: Any, headers: dict[str, str] | None = None) -> Any:
    """The error a reply raises; fails the test if it gives a record."""
    with pytest.raises(SunvecError) as raised:
        parse(status, body, headers)
    return raised.value


@pytest.mark.parametrize(
    ("body", "retry_after"),
    [
        (
            {"success": False, "exception": LOCKOUT_TEXT, "result": None, "code": 1},
            3600,
        ),
        ({"success": False, "exception": LOCKOUT_TEXT}, 3600),
        ({"success": False, "exception": "Locked", "code": 1}, 3600),
        ({"success": False, "result": LOCKOUT_TEXT.replace("hour", "2 hours")}, 7200),
        (
            {
                "success": False,
                "exception": "Violations: calls prohibited for 30 minutes",
            },
            1800,
        ),
        ({"success": False, "exception": "prohibited for the next 400 hours"}, 3600),
    ],
)
def test_lockout_is_a_rate_limit_with_its_hour(
    body: dict[str, Any], retry_after: float
) -> None:
    """The lock-out reply is recognised by its code or its words and carries the pause
    it announces (an hour unless it names another)."""
    error = refusal(200, body)
    assert type(error) is SunvecRateLimitError
    assert error.lockout is True
    assert error.retry_after == retry_after


@pytest.mark.parametrize(
    "body",
    [
        {
            "success": False,
            "exception": "Accumulated 3 requests within 5 minutes exceed the maximum"
            " call threshold",
        },
        {"success": False, "exception": "current minute > threshold"},
        {
            "success": False,
            "exception": "Query success!",
            "result": "Too many requests",
        },
        {"success": False, "exception": "x", "code": 104},
    ],
)
def test_rate_limit_texts_without_code(body: dict[str, Any]) -> None:
    """Rate limits are recognised by their words too; they are no lock-out."""
    error = refusal(200, body)
    assert type(error) is SunvecRateLimitError
    assert (error.lockout, error.retry_after) == (False, None)


@pytest.mark.parametrize(
    ("code", "exception", "error"),
    [
        (1001, "Access prohibited: token revoked", SunvecAuthenticationError),
        (1003, "too many requests for this sn", SunvecDeviceNotAuthorizedError),
        (2002, "The server is busy", SunvecNotFoundError),
        (2001, "current minute > threshold", SunvecRateLimitError),
        (2001, "The server is busy. Please try again later!", SunvecBusyError),
        (2001, "Operation failed", SunvecOperationFailedError),
        (4242, "prohibit calls within the next hour", SunvecRateLimitError),
    ],
)
def test_specific_codes_win_over_words(
    code: int, exception: str, error: type[SunvecApiError]
) -> None:
    """Words decide only where the code does not say what happened."""
    assert type(refusal(200, _reply(code, exception))) is error


def test_reason_in_result_wins_over_exception() -> None:
    """When success is false and result is a string, that string is the reason."""
    error = refusal(
        200,
        {
            "success": False,
            "exception": "Query success!",
            "result": "this sn did not access!",
        },
    )
    assert type(error) is SunvecApiError
    assert error.message == "this sn did not access!"
    assert "Query success" not in str(error)
    coded = refusal(200, {"success": False, "result": "not yours", "code": 1003})
    assert type(coded) is SunvecDeviceNotAuthorizedError
    assert coded.message == "Sunvec cloud error 1003: not yours"


@pytest.mark.parametrize(
    "body",
    [
        {"success": False, "exception": "Query success!"},
        {"success": False, "exception": "Query success !", "result": None},
        {"success": False, "exception": "operation success", "result": ""},
        {"success": False},
    ],
)
def test_refusal_that_only_says_success_gives_no_false_reason(
    body: dict[str, Any],
) -> None:
    """success: false with a success text reads as a refusal without a reason."""
    error = refusal(200, body)
    assert type(error) is SunvecApiError
    assert str(error) == "The cloud refused the request without giving a reason"


def test_busy_server_is_transient() -> None:
    """ "The server is busy" is its own error, so the caller can treat it as transient."""
    error = refusal(
        200,
        {"success": False, "exception": "The server is busy. Please try again later!"},
    )
    assert type(error) is SunvecBusyError
    assert isinstance(error, SunvecApiError)
    assert error.message == "The server is busy. Please try again later!"


@pytest.mark.parametrize(
    "text",
    [
        '{"result": %s, "success": true}',
        '{"exception": "operation success", "result": %s, "success": true}',
        '{"success": true, "exception": "Query success !", "result": %s}',
        '{"success": true, "exception": "Query success!", "result": %s, "code": "0"}',
    ],
)
def test_older_success_shapes(text: str) -> None:
    """Without code, with success last, with other success texts: still a record."""
    data = parse(200, text % json.dumps(json.loads(EXAMPLE.read_text())["result"]))
    assert data.ac_power == 152


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("  \r\n", "empty"),
        ('{"success": true, "code": 0, "result": [{"acpower": 1}]}', "result object"),
        ('{"success": true, "code": 0, "result": "ok"}', "result object"),
        ("[" * 100_000 + "]" * 100_000, "not valid JSON"),
        ('{"success": true, "result": ' * 5_000, "not valid JSON"),
        ("1" * 5_000, "not a JSON object"),
        ('{"success": true, "code": 0, "result": {"acpower": NaN', "not valid JSON"),
    ],
)
def test_malformed_bodies(text: str, message: str) -> None:
    """Empty bodies, lists, deep nesting and huge numbers are malformed replies."""
    error = refusal(200, text)
    assert type(error) is SunvecMalformedReplyError
    assert message in str(error)


def test_huge_integer_in_a_value_is_a_missing_value() -> None:
    """A 400-digit integer in a numeric field makes that value missing, not the reply."""
    raw = EXAMPLE.read_text().replace('"acpower": 152', '"acpower": ' + "9" * 400)
    raw = raw.replace('"yieldtotal": 2420.5', '"yieldtotal": -' + "1" * 4500)
    assert "9" * 400 in raw
    data = parse(200, raw)
    assert data.ac_power is None
    assert data.yield_total is None
    assert data.yield_today == 0.2


def test_huge_code_is_no_code() -> None:
    """A code no integer type would hold is ignored; success then decides."""
    error = refusal(200, '{"success": false, "code": ' + "7" * 400 + "}")
    assert type(error) is SunvecApiError
    assert error.code is None


def test_parse_bug_becomes_a_malformed_reply(monkeypatch: pytest.MonkeyPatch) -> None:
    """Should reading a record ever raise something else, the caller still only sees a
    SunvecError, and nothing of what was raised."""

    def broken(result: dict[str, Any]) -> RealtimeData:
        raise KeyError(f"{TOKEN} was here")

    monkeypatch.setattr(api.RealtimeData, "from_dict", broken)
    error = refusal(200, json.loads(EXAMPLE.read_text()))
    assert type(error) is SunvecMalformedReplyError
    assert str(error) == "The reply could not be read (KeyError)"
    assert_token_free(error)


@pytest.mark.parametrize("status", [400, 404, 405, 406, 410, 415, 418, 421, 426, 451])
def test_not_the_api(status: int) -> None:
    """A 4xx that is not about the token or a pause: a server, but not the API there."""
    error = refusal(status, "<html><h1>Not Found</h1></html>")
    assert type(error) is SunvecNotApiError
    assert isinstance(error, SunvecConnectionError)
    assert error.status == status
    assert "https://api.example.com" in str(error)
    assert "service → API" in str(error)


@pytest.mark.parametrize("status", [300, 304, 407, 408])
def test_other_statuses_are_connection_errors(status: int) -> None:
    """A proxy asking for credentials, a timeout, a 3xx that is no redirect."""
    assert type(refusal(status, "")) is SunvecConnectionError


def test_api_reply_with_an_error_status_is_still_an_api_reply() -> None:
    """A 404 carrying the API's own refusal is the API speaking."""
    error = refusal(
        404, {"success": False, "exception": "Data not found", "code": 2002}
    )
    assert type(error) is SunvecNotFoundError


# -- HTTP 429 and Retry-After ----------------------------------------------------------

DATE = datetime(2024, 8, 20, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [
        ({}, None),
        ({"Retry-After": "120"}, 120),
        ({"retry-after": " 0 "}, 0),
        ({"Retry-After": "999999999999999999999"}, 86_400),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "-5"}, None),
        ({"Retry-After": "1.5"}, None),
        ({"Retry-After": "١٢٠"}, None),
        (
            {
                "Retry-After": format_datetime(
                    DATE + timedelta(minutes=5), usegmt=True
                ),
                "Date": format_datetime(DATE, usegmt=True),
            },
            300,
        ),
        (
            {
                "Retry-After": "Tuesday, 20-Aug-24 09:10:00 GMT",
                "Date": "Tue, 20 Aug 2024 09:00:00 GMT",
            },
            600,
        ),
        (
            {
                "Retry-After": format_datetime(
                    DATE - timedelta(minutes=5), usegmt=True
                ),
                "Date": format_datetime(DATE, usegmt=True),
            },
            0,
        ),
        (
            {
                "Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT",
                "Date": format_datetime(DATE, usegmt=True),
            },
            86_400,
        ),
        ({"Retry-After": "Mon, 01 Jan 2001 00:00:00 GMT"}, 0),
        ({"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT", "Date": "garbage"}, 86_400),
        ({"Retry-After": "Tue, 99 Aug 2024 09:00:00 GMT"}, None),
    ],
)
def test_http_429_honours_retry_after(
    headers: dict[str, str], retry_after: float | None
) -> None:
    """Retry-After in seconds or as an HTTP-date (from the reply's Date, else now),
    capped at a day; nonsense is ignored."""
    error = refusal(429, "Too Many Requests", headers)
    assert type(error) is SunvecRateLimitError
    assert error.retry_after == retry_after
    assert error.lockout is False


def test_http_429_date_without_date_header_counts_from_now() -> None:
    """Without a Date header the HTTP-date is measured from the client's clock."""
    soon = format_datetime(datetime.now(UTC) + timedelta(minutes=10), usegmt=True)
    error = refusal(429, "", {"Retry-After": soon})
    assert 590 <= error.retry_after <= 600


def test_http_429_with_a_lockout_body() -> None:
    """A lock-out reply sent with HTTP 429 is a lock-out; Retry-After, if any, wins."""
    body = {"success": False, "exception": LOCKOUT_TEXT, "code": 1}
    error = refusal(429, body)
    assert (error.lockout, error.retry_after, error.code) == (True, 3600, 1)
    assert LOCKOUT_TEXT in str(error)
    error = refusal(429, body, {"Retry-After": "1800"})
    assert (error.lockout, error.retry_after) == (True, 1800)


# -- over HTTP: size, encodings, redirects, the network --------------------------------


async def test_gigantic_body_is_not_read_to_the_end(
    serve: Callable[[Handler], Awaitable[str]], session: aiohttp.ClientSession
) -> None:
    """A body beyond the cap is a malformed reply, with or without Content-Length."""
    chunk = b" " * 65_536
    sent: list[int] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/sized/"):
            return web.Response(body=b" " * (MAX_REPLY_BYTES + 1))
        response = web.StreamResponse()
        await response.prepare(request)
        try:
            for _ in range(1000):  # 64 MiB if the client read it all
                await response.write(chunk)
                sent.append(len(chunk))
        except ConnectionError:
            pass
        return response

    address = await serve(handler)
    client = SunvecClient(session, address, TOKEN)
    with pytest.raises(SunvecMalformedReplyError, match="larger than 256 KiB"):
        await client.get_realtime("SUT1")
    assert sum(sent) < 64 * MAX_REPLY_BYTES
    sized = SunvecClient(session, f"{address}/sized", TOKEN)
    with pytest.raises(SunvecMalformedReplyError, match="larger than"):
        await sized.get_realtime("SUT1")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"success":true,"code":0,"result":{"acpower":152,"sn":"\xff\xfe"}}', None),
        (
            b'\xef\xbb\xbf{"success":true,"code":0,"result":{"acpower":152}}',
            "application/json; charset=utf-8",
        ),
        (
            b'{"success":true,"code":0,"result":{"acpower":152}}',
            "application/json; charset=no-such-charset",
        ),
        (
            b'{"success":true,"code":0,"result":{"acpower":152}}',
            "application/json; charset=rot13",
        ),
        (
            '{"success":true,"code":0,"result":{"acpower":152,"sn":"光伏"}}'.encode(
                "gbk"
            ),
            "application/json; charset=GBK",
        ),
    ],
)
async def test_bytes_and_charsets(
    serve: Callable[[Handler], Awaitable[str]],
    session: aiohttp.ClientSession,
    body: bytes,
    content_type: str | None,
) -> None:
    """Invalid UTF-8, a byte order mark, unknown or odd charsets: the record is read."""

    async def handler(request: web.Request) -> web.Response:
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type or "application/json"
        return response

    data = await SunvecClient(session, await serve(handler), TOKEN).get_realtime("X")
    assert data.ac_power == 152
    if "GBK" in (content_type or ""):
        assert data.wifi_module_sn == "光伏"


@pytest.mark.parametrize("status", sorted(api._REDIRECT_STATUSES))
async def test_redirect_within_the_origin_is_followed(
    serve: Callable[[Handler], Awaitable[str]],
    session: aiohttp.ClientSession,
    status: int,
) -> None:
    """A redirect to the same scheme, host and port is followed with the same POST."""
    seen: list[tuple[str, str | None, Any]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(
            (request.path, request.headers.get("tokenId"), await request.json())
        )
        if request.path == REALTIME_PATH:
            return web.Response(
                status=status, headers={"Location": "/moved" + REALTIME_PATH}
            )
        return web.Response(body=EXAMPLE.read_bytes(), content_type="application/json")

    data = await SunvecClient(session, await serve(handler), TOKEN).get_realtime("SUT1")
    assert data.ac_power == 152
    body = {"wifiSn": "SUT1"}
    assert seen == [
        (REALTIME_PATH, TOKEN, body),
        ("/moved" + REALTIME_PATH, TOKEN, body),
    ]


async def test_redirect_to_another_origin_never_gets_the_token(
    serve: Callable[[Handler], Awaitable[str]], session: aiohttp.ClientSession
) -> None:
    """Another port is another origin: no request goes there, the error names it."""
    elsewhere: list[str | None] = []

    async def other(request: web.Request) -> web.Response:
        elsewhere.append(request.headers.get("tokenId"))
        return web.Response(body=EXAMPLE.read_bytes(), content_type="application/json")

    other_address = await serve(other)

    async def handler(request: web.Request) -> web.Response:
        location = f"{other_address}{REALTIME_PATH}?tokenId={TOKEN}&x=1#frag"
        return web.Response(status=302, headers={"Location": location})

    client = SunvecClient(session, await serve(handler), TOKEN)
    with pytest.raises(SunvecRedirectError) as raised:
        await client.get_realtime("SUT1")
    assert elsewhere == []
    assert raised.value.location == f"{other_address}{REALTIME_PATH}"
    assert raised.value.location in str(raised.value)
    assert isinstance(raised.value, SunvecConnectionError)
    assert_token_free(raised.value)


@pytest.mark.parametrize(
    "location",
    [
        "https://{host}" + REALTIME_PATH,  # https instead of http: another origin
        "//evil.example" + REALTIME_PATH,
        "http://user:pw@evil.example:8080/api",
    ],
)
async def test_other_origins(
    serve: Callable[[Handler], Awaitable[str]],
    session: aiohttp.ClientSession,
    location: str,
) -> None:
    """Another scheme or host is another origin, and the address is shown clean."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(
            status=301, headers={"Location": location.format(host=request.host)}
        )

    client = SunvecClient(session, await serve(handler), TOKEN)
    with pytest.raises(SunvecRedirectError) as raised:
        await client.get_realtime("SUT1")
    assert "pw" not in raised.value.location
    assert "user" not in str(raised.value)


async def test_redirect_loop_stops(
    serve: Callable[[Handler], Awaitable[str]], session: aiohttp.ClientSession
) -> None:
    """Redirects within the origin are followed a few times, not forever."""
    hops: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        hops.append(request.path)
        return web.Response(status=307, headers={"Location": f"/hop{len(hops)}"})

    client = SunvecClient(session, await serve(handler), TOKEN)
    with pytest.raises(SunvecConnectionError, match="redirected more than") as raised:
        await client.get_realtime("SUT1")
    assert type(raised.value) is SunvecConnectionError
    assert len(hops) == MAX_REDIRECTS + 1


@pytest.mark.parametrize("headers", [{}, {"Location": "http://[::1"}, {"Location": ""}])
async def test_redirect_without_a_usable_address(
    serve: Callable[[Handler], Awaitable[str]],
    session: aiohttp.ClientSession,
    headers: dict[str, str],
) -> None:
    """A redirect that points nowhere usable is a connection error."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=302, headers=headers)

    client = SunvecClient(session, await serve(handler), TOKEN)
    with pytest.raises(SunvecConnectionError, match="without a usable address"):
        await client.get_realtime("SUT1")


async def test_closed_session_is_a_connection_error() -> None:
    """Even the session's own misuse errors leave the client as SunvecError."""
    closed = aiohttp.ClientSession()
    await closed.close()
    client = SunvecClient(closed, "http://127.0.0.1:9", TOKEN)
    with pytest.raises(SunvecConnectionError, match="Session is closed"):
        await client.get_realtime("SUT1")


async def test_cancellation_is_not_swallowed(
    serve: Callable[[Handler], Awaitable[str]], session: aiohttp.ClientSession
) -> None:
    """Cancelling a call cancels it: the client does not turn it into an error."""
    started, never = asyncio.Event(), asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        started.set()
        await never.wait()
        raise AssertionError("unreachable")

    client = SunvecClient(session, await serve(handler), TOKEN)
    call = asyncio.create_task(client.get_realtime("SUT1"))
    await started.wait()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call


# -- the token never survives in an error ----------------------------------------------

ODD_TOKEN = "Sv+T0k/3n=42"


def chain(error: BaseException) -> Iterator[BaseException]:
    """The error and every exception reachable from it as cause or context."""
    seen: set[int] = set()
    todo = [error]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]


def assert_token_free(error: BaseException, token: str = TOKEN) -> None:
    secrets = {token, quote(token, safe=""), quote(token)}
    for link in chain(error):
        texts = [str(link), repr(link), *map(repr, link.args)]
        texts += map(repr, vars(link).values())
        for text in texts:
            for secret in secrets:
                assert secret not in text, (type(link).__name__, text)


def _echo_json(status: int, **reply: Any) -> Callable[[str], web.Response]:
    def respond(token: str) -> web.Response:
        body = {key: value.format(token=token) for key, value in reply.items()}
        return web.json_response(
            {**body, **({"code": int(reply["code"])} if "code" in reply else {})},
            status=status,
        )

    return respond


def _echo_text(status: int, text: str, **headers: str) -> Callable[[str], web.Response]:
    def respond(token: str) -> web.Response:
        return web.Response(
            status=status,
            text=text.format(token=token, quoted=quote(token, safe="")),
            content_type="text/html",
            headers={
                k: v.format(token=token, quoted=quote(token, safe=""))
                for k, v in headers.items()
            },
        )

    return respond


ECHOES: dict[str, tuple[Callable[[str], web.Response], type[SunvecError]]] = {
    "exception": (
        _echo_json(200, success="", exception="token {token} unknown", code="1001"),
        SunvecAuthenticationError,
    ),
    "result": (
        _echo_json(200, exception="Query success!", result="{token} did not access!"),
        SunvecApiError,
    ),
    "lockout": (
        _echo_json(200, exception="{token}: " + LOCKOUT_TEXT, code="1"),
        SunvecRateLimitError,
    ),
    "rate limit": (
        _echo_json(200, exception="{token} > threshold", result="{token}"),
        SunvecRateLimitError,
    ),
    "busy": (
        _echo_json(200, exception="{token} server is busy"),
        SunvecBusyError,
    ),
    "not found on 404": (
        _echo_json(404, exception="no {token}", code="2002"),
        SunvecNotFoundError,
    ),
    "HTML page": (
        _echo_text(502, "<html><body>502 for {token}</body></html>"),
        SunvecConnectionError,
    ),
    "not the API": (
        _echo_text(404, "<html>{token} not here</html>"),
        SunvecNotApiError,
    ),
    "429": (
        _echo_text(429, '{{"exception": "{token}"}}', **{"Retry-After": "{token}"}),
        SunvecRateLimitError,
    ),
    "broken JSON": (
        _echo_text(200, '{{"success": true, "result": {{"sn": "{token}"'),
        SunvecMalformedReplyError,
    ),
    "Location": (
        _echo_text(
            302,
            "",
            Location="https://evil.example/{token}/{quoted}/x?tokenId={token}#{token}",
        ),
        SunvecRedirectError,
    ),
    "Location within the origin": (
        _echo_text(302, "", Location="/{quoted}/again?{token}"),
        SunvecConnectionError,
    ),
}


@pytest.mark.parametrize("token", [TOKEN, ODD_TOKEN])
@pytest.mark.parametrize("case", list(ECHOES))
async def test_echoed_token_is_nowhere_in_the_error_chain(
    serve: Callable[[Handler], Awaitable[str]],
    session: aiohttp.ClientSession,
    case: str,
    token: str,
) -> None:
    """Wherever the cloud echoes the token, no exception raised holds it: not in its
    message, args, attributes or repr, nor in any cause or context behind it."""
    respond, expected = ECHOES[case]

    async def handler(request: web.Request) -> web.Response:
        assert request.headers["tokenId"] == token
        return respond(token)

    client = SunvecClient(session, await serve(handler), token)
    with pytest.raises(SunvecError) as raised:
        await client.get_realtime("SUT1")
    assert type(raised.value) is expected
    assert_token_free(raised.value, token)


@pytest.fixture
async def raw_server(
    socket_enabled: None,
) -> AsyncIterator[Callable[[bytes], Awaitable[str]]]:
    """A TCP server on loopback that answers any request with the given bytes."""
    servers: list[asyncio.Server] = []

    async def start(answer: bytes) -> str:
        async def handle(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        b"",
    ],
)
async def test_transport_errors_leave_no_token_behind(
    raw_server: Callable[[bytes], Awaitable[str]],
    session: aiohttp.ClientSession,
    answer: bytes,
) -> None:
    """aiohttp's own errors carry the request headers; none of them is chained."""
    client = SunvecClient(session, await raw_server(answer), TOKEN)
    with pytest.raises(SunvecConnectionError) as raised:
        await client.get_realtime("SUT1")
    assert type(raised.value) is SunvecConnectionError
    assert "Cannot reach" in str(raised.value)
    assert_token_free(raised.value)


async def test_timeout_leaves_no_chain(
    serve: Callable[[Handler], Awaitable[str]], session: aiohttp.ClientSession
) -> None:
    """A timeout is a connection error with nothing behind it."""
    never = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        await never.wait()
        raise AssertionError("unreachable")

    client = SunvecClient(session, await serve(handler), TOKEN, request_timeout=0.05)
    with pytest.raises(SunvecConnectionError) as raised:
        await client.get_realtime("SUT1")
    assert raised.value.__context__ is None
    assert raised.value.__cause__ is None
