"""The client against the simulated cloud over loopback: each field fault, as a caller
of the client sees it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp.test_utils import TestServer
import pytest

from custom_components.sunvec.api import (
    SunvecApiError,
    SunvecBusyError,
    SunvecClient,
    SunvecConnectionError,
    SunvecError,
    SunvecMalformedReplyError,
    SunvecRateLimitError,
    SunvecRedirectError,
)
from sunvec_simulator import Fault, InverterKind, SunvecCloud, VirtualClock, create_app

from .test_api import assert_token_free

NOON = datetime(2024, 6, 20, 10, 0, tzinfo=UTC)  # noon in Amsterdam
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
TOKEN = "sim-token-0123456789"
WIFI_SN = "SVTESTHYB1"


class Cloud:
    """A served simulated cloud with a client on its address."""

    def __init__(self, cloud: SunvecCloud, clock: VirtualClock, client: SunvecClient):
        self.cloud, self.clock, self.client = cloud, clock, client

    async def error(self) -> Any:
        with pytest.raises(SunvecError) as raised:
            await self.client.get_realtime(WIFI_SN)
        assert_token_free(raised.value, TOKEN)
        return raised.value


@pytest.fixture
async def served(socket_enabled: None) -> AsyncIterator[Any]:
    """Serve a simulated cloud with the given settings; return it with a client."""
    servers: list[TestServer] = []
    async with aiohttp.ClientSession() as session:

        async def start(**settings: Any) -> Cloud:
            clock = VirtualClock(NOON)
            settings.setdefault("rate_limit_per_minute", None)
            cloud = SunvecCloud(clock=clock, seed=3, **settings)
            cloud.add_inverter(TOKEN, WIFI_SN, kind=InverterKind.HYBRID)
            server = TestServer(create_app(cloud), host="127.0.0.1")
            await server.start_server()
            servers.append(server)
            address = f"http://127.0.0.1:{server.port}"
            return Cloud(cloud, clock, SunvecClient(session, address, TOKEN))

        yield start
        for server in servers:
            await server.close()


async def test_lockout_reply_and_its_hour(served: Any) -> None:
    sim = await served()
    sim.cloud.set_fault(Fault.LOCKOUT, count=1)
    error = await sim.error()
    assert type(error) is SunvecRateLimitError
    assert (error.lockout, error.retry_after, error.code) == (True, 3600, 1)
    assert (await sim.client.get_realtime(WIFI_SN)).ac_power is not None


async def test_repeated_violations_lock_out_for_what_the_reply_says(
    served: Any,
) -> None:
    sim = await served(rate_limit_per_minute=1, lockout_after=2, lockout_seconds=7200)
    await sim.client.get_realtime(WIFI_SN)
    first = await sim.error()
    assert (first.lockout, first.retry_after) == (False, None)
    locked = await sim.error()
    assert (locked.lockout, locked.retry_after) == (True, 7200)
    sim.clock.advance(3600)
    assert (await sim.error()).lockout is True
    sim.clock.advance(3600)
    await sim.client.get_realtime(WIFI_SN)


async def test_rate_limit_words_without_code(served: Any) -> None:
    sim = await served()
    text = "Accumulated 3 requests within 5 minutes exceed the maximum call threshold"
    sim.cloud.set_fault(Fault.RATE_LIMITED, code=None, exception=text, count=1)
    error = await sim.error()
    assert type(error) is SunvecRateLimitError
    assert (error.code, error.message, error.lockout) == (None, text, False)


@pytest.mark.parametrize(
    ("params", "retry_after"),
    [
        ({}, 60),
        ({"retry_after": 90, "http_date": True}, 90),
        ({"retry_after": None}, None),
    ],
)
async def test_http_429_retry_after(
    served: Any, params: dict[str, Any], retry_after: int | None
) -> None:
    """The HTTP-date is read against the cloud's own Date header, not the test's clock."""
    sim = await served()
    sim.cloud.set_fault(Fault.HTTP_429, count=1, **params)
    error = await sim.error()
    assert type(error) is SunvecRateLimitError
    assert error.retry_after == retry_after


async def test_reason_in_result_and_busy(served: Any) -> None:
    sim = await served()
    sim.cloud.set_fault(Fault.REASON_IN_RESULT, count=1)
    error = await sim.error()
    assert type(error) is SunvecApiError
    assert str(error) == "this sn did not access!"
    sim.cloud.set_fault(Fault.SERVER_BUSY, count=1)
    assert type(await sim.error()) is SunvecBusyError


async def test_redirects(served: Any) -> None:
    sim = await served()
    sim.cloud.set_fault(Fault.REDIRECT, count=1)
    error = await sim.error()
    assert type(error) is SunvecRedirectError
    assert error.location == (
        "https://api.sunvec-elsewhere.example/api/v2/dataAccess/realtimeInfo/get"
    )
    sim.cloud.set_fault(
        Fault.REDIRECT,
        status=307,
        count=1,
        location="/api/v2/dataAccess/realtimeInfo/get",
    )
    assert (await sim.client.get_realtime(WIFI_SN)).inverter_sn is not None
    assert sim.cloud.requests_served[TOKEN] == 3


async def test_nested_json(served: Any) -> None:
    sim = await served()
    sim.cloud.set_fault(Fault.NESTED_JSON, count=1)
    assert type(await sim.error()) is SunvecMalformedReplyError


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("exception", SunvecApiError),
        ("result", SunvecApiError),
        ("html", SunvecConnectionError),
        ("location", SunvecRedirectError),
    ],
)
async def test_echoed_token(
    served: Any, where: str, expected: type[SunvecError]
) -> None:
    sim = await served()
    sim.cloud.set_fault(Fault.ECHO_TOKEN, where=where, count=1)
    error = await sim.error()  # asserts the token is nowhere in its chain
    assert isinstance(error, expected)
    assert "**REDACTED**" in str(error) or where in ("html", "location")


async def test_utc_date_time_right_and_off(served: Any) -> None:
    sim = await served(utc_date_time=True)
    upload = sim.cloud.inverter(WIFI_SN).uploads()[-1]
    data = await sim.client.get_realtime(WIFI_SN)
    assert data.utc_upload_time == upload.available_at
    sim.cloud.set_fault(Fault.UTC_TIME_OFF, count=1)
    data = await sim.client.get_realtime(WIFI_SN)
    assert data.utc_upload_time == upload.available_at + timedelta(hours=8)
    assert data.upload_time == upload.upload_time


@pytest.mark.parametrize(
    "style", ["t_separator", "milliseconds", "slashes", "no_seconds", "utc_offset"]
)
async def test_upload_time_shapes_read_as_the_same_instant(
    served: Any, style: str
) -> None:
    sim = await served()
    sim.cloud.set_fault(Fault.UPLOAD_TIME_FORMAT, style=style)
    sim.clock.advance(600)
    upload = sim.cloud.inverter(WIFI_SN).uploads()[-1]
    data = await sim.client.get_realtime(WIFI_SN)
    assert data.upload_time is not None
    assert data.unparsed_upload_time is None
    expected = upload.upload_time
    if style == "no_seconds":
        expected = expected.replace(second=0)
    if style == "utc_offset":
        assert data.upload_time == expected.replace(tzinfo=AMSTERDAM)
    else:
        assert data.upload_time == expected


async def test_garbage_upload_time_leaves_the_record_undated(served: Any) -> None:
    sim = await served()
    sim.cloud.set_fault(Fault.UPLOAD_TIME_FORMAT, style="garbage")
    sim.clock.advance(600)
    data = await sim.client.get_realtime(WIFI_SN)
    assert (data.upload_time, data.unparsed_upload_time) == (
        None,
        "0000-00-00 00:00:00",
    )
    assert data.yield_total is not None


@pytest.mark.parametrize(
    ("field", "value", "attribute", "expected"),
    [
        ("acpower", 10**400, "ac_power", None),
        ("powerdc1", 1e308, "pv_power", (1e308,)),
        ("yieldtotal", 1e7, "yield_total", 1e7),
    ],
)
async def test_absurd_values(
    served: Any, field: str, value: float, attribute: str, expected: Any
) -> None:
    """Unusable values are missing; absurd but finite ones are the integration's call."""
    sim = await served()
    sim.cloud.set_fault(Fault.ABSURD_VALUE, field=field, value=value)
    sim.clock.advance(310)
    data = await sim.client.get_realtime(WIFI_SN)
    got = getattr(data, attribute)
    assert (got[:1] if isinstance(got, tuple) else got) == expected
