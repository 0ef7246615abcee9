"""Tests of the Sunvec Connect client over real HTTP on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
import json
from pathlib import Path
import socket
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer
import pytest

from custom_components.sunvec.api import (
    REALTIME_PATH,
    SunvecApiError,
    SunvecAuthenticationError,
    SunvecClient,
    SunvecConnectionError,
    SunvecDeviceNotAuthorizedError,
    SunvecDuplicateError,
    SunvecError,
    SunvecMalformedReplyError,
    SunvecNotFoundError,
    SunvecOperationFailedError,
    SunvecParameterError,
    SunvecRateLimitError,
    normalize_api_address,
    normalize_wifi_sn,
)
from custom_components.sunvec.models import BatteryStatus, InverterStatus

EXAMPLE = Path(__file__).parent / "fixtures" / "realtime_example.json"
TOKEN = "secret-token-20240820"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def serve(
    socket_enabled: None,
) -> AsyncIterator[Callable[[Handler], Awaitable[str]]]:
    """Serve one handler on the realtime path over loopback; return its address."""
    servers: list[TestServer] = []

    async def start(handler: Handler) -> str:
        app = web.Application()
        app.router.add_post(REALTIME_PATH, handler)
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
        (404, "<html>Not Found</html>", "text/html", SunvecConnectionError),
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


def test_code_sent_as_text_is_understood() -> None:
    """An error code sent as a string maps like the number."""
    client = SunvecClient(None, "api.example.com", TOKEN)  # type: ignore[arg-type]
    with pytest.raises(SunvecDeviceNotAuthorizedError):
        client.parse_response(200, json.dumps(_reply("1003", "Data unauthorized")))  # type: ignore[arg-type]
