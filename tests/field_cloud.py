"""The simulated cloud behind a proxy that can answer as the field does, and helpers.

Tests serve `FieldCloud` on loopback: every request is logged as a `Call` (when, which
server, host, token header), and a test can answer a request itself (`answer`: a
redirect, a lock-out, a hostile body) or rewrite the result of the simulator's
success replies (`rewrite`: a 400-digit integer, an ``uploadTime`` in 9999). A second
server, ``elsewhere``, stands for another host: nothing should ever reach it. The
helpers read what a user sees: the integration's own log lines, the states.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable
import contextlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import json
import logging
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    mock_restore_cache_with_extra_data,
)

from custom_components.sunvec.api import DEFAULT_REQUEST_TIMEOUT
from custom_components.sunvec.const import DOMAIN
from sunvec_simulator import SunvecCloud

# How long the integration waits for a reply before it gives up on the call.
CLIENT_TIMEOUT = timedelta(seconds=DEFAULT_REQUEST_TIMEOUT)

REALTIME_PATH = "/api/v2/dataAccess/realtimeInfo/get"
OUR_LOGGER = "custom_components.sunvec"


@dataclass(frozen=True)
class Call:
    """One request that reached a server."""

    at: datetime
    server: str
    host: str
    path: str
    token: str | None
    wifi_sn: str | None


@dataclass(frozen=True)
class Served:
    """What the cloud answered to one call."""

    call: Call
    status: int
    text: str
    headers: dict[str, str]


Answer = Callable[[Call], web.Response | None]
Rewrite = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class FieldCloud:
    """The simulator behind a proxy; see the module docstring."""

    cloud: SunvecCloud
    calls: list[Call] = field(default_factory=list)
    served: list[Served] = field(default_factory=list)
    """The replies that reached the caller (not those of a call it gave up on)."""
    answer: Answer | None = None
    """Answers a request instead of the simulator when it returns a response."""
    rewrite: Rewrite | None = None
    """Changes the ``result`` of the simulator's success replies."""
    hold: asyncio.Event | None = None
    """While set to an event, requests wait for it before they are answered."""
    url: str = ""
    elsewhere_url: str = ""

    def calls_to(self, server: str = "cloud") -> list[Call]:
        """Return the calls that reached one server."""
        return [call for call in self.calls if call.server == server]

    def calls_between(self, start: datetime, end: datetime) -> list[Call]:
        """Return the calls to the cloud in [start, end)."""
        return [call for call in self.calls_to() if start <= call.at < end]

    async def _handle(self, request: web.Request, server: str) -> web.StreamResponse:
        call, response = await self._answer(request, server)
        # Only what reaches the caller counts as served: a reply ready after the
        # client's timeout (a hang) was never read, though in frozen time the
        # connection may still be open when it is written.
        if dt_util.utcnow() - call.at < CLIENT_TIMEOUT:
            self.served.append(
                Served(
                    call, response.status, response.text or "", dict(response.headers)
                )
            )
        return response

    async def _answer(
        self, request: web.Request, server: str
    ) -> tuple[Call, web.Response]:
        body = await request.read()
        try:
            payload = json.loads(body)
        except (RecursionError, ValueError):
            payload = None
        wifi_sn = payload.get("wifiSn") if isinstance(payload, dict) else None
        call = Call(
            at=dt_util.utcnow(),
            server=server,
            host=request.host,
            path=request.path,
            token=request.headers.get("tokenId"),
            wifi_sn=wifi_sn if isinstance(wifi_sn, str) else None,
        )
        self.calls.append(call)
        if server != "cloud":
            return call, web.Response(status=404, text="elsewhere")
        if self.hold is not None:
            await self.hold.wait()
        if self.answer is not None and (response := self.answer(call)) is not None:
            return call, response
        reply = await self.cloud.realtime_info(call.token, call.wifi_sn)
        text = reply.body
        if self.rewrite is not None and reply.status == 200:
            try:
                decoded = json.loads(text)
            except (RecursionError, ValueError):  # e.g. 100,000 nested arrays
                decoded = None
            if isinstance(decoded, dict) and isinstance(decoded.get("result"), dict):
                decoded["result"] = self.rewrite(dict(decoded["result"]))
                text = json.dumps(decoded)
        return call, web.Response(
            status=reply.status,
            text=text,
            content_type=reply.content_type,
            headers=reply.headers,
        )

    def app(self, server: str) -> web.Application:
        """Return the aiohttp application of one server."""

        async def handle(request: web.Request) -> web.StreamResponse:
            return await self._handle(request, server)

        app = web.Application()
        app.router.add_route("*", "/{path:.*}", handle)
        return app


async def serve_field_cloud(cloud: SunvecCloud) -> AsyncIterator[FieldCloud]:
    """Serve the proxy and the other host on loopback (use as a fixture body)."""
    field_cloud = FieldCloud(cloud)
    # No access log: `calls` records every request, and aiohttp's access logger
    # fails under a frozen clock (freezegun's localtime has no tm_gmtoff) when it
    # has not cached the zone before the clock froze, e.g. in a test run alone.
    servers = [
        TestServer(field_cloud.app(server), host="127.0.0.1")
        for server in ("cloud", "elsewhere")
    ]
    for server in servers:
        await server.start_server(access_log=None)
    field_cloud.url = f"http://127.0.0.1:{servers[0].port}"
    field_cloud.elsewhere_url = f"http://127.0.0.1:{servers[1].port}"
    try:
        yield field_cloud
    finally:
        for server in servers:
            await server.close()


def json_reply(body: Any, status: int = 200, **headers: str) -> web.Response:
    """Return a JSON reply with any body (NaN and huge integers included)."""
    return web.Response(
        status=status,
        text=body if isinstance(body, str) else json.dumps(body),
        content_type="application/json",
        headers=headers,
    )


def max_calls_in_window(times: Iterable[datetime], window: timedelta) -> int:
    """Return the most calls that fall into any window of this length."""
    ordered = sorted(times)
    most = 0
    start = 0
    for end, at in enumerate(ordered):
        while at - ordered[start] >= window:
            start += 1
        most = max(most, end - start + 1)
    return most


def _in_flight() -> list[asyncio.Task[Any]]:
    """Return the polls, set-up retries and reloads of the integration not ended."""
    return [
        task
        for task in asyncio.all_tasks()
        if not task.done()
        and (
            task.get_name().startswith((f"{DOMAIN} ", f"config entry retry {DOMAIN}"))
            or (
                task.get_name().startswith("config entry reload")
                and f" {DOMAIN} " in task.get_name()
            )
        )
    ]


async def settle(hass: HomeAssistant, turns: int = 2000) -> None:
    """Let what runs finish: state writes, and the polls' loopback I/O.

    Like `tests.test_data_quality.settle`, but set-up retries and reloads count
    too (their call must not time out in frozen time), and a task that waits for
    virtual time (a set-up waiting for the account's turn) is left to the next
    step instead of waited for: `hass.async_block_till_done` is given ``turns``
    turns of the loop, not for ever.
    """
    done = asyncio.ensure_future(hass.async_block_till_done())
    for _ in range(turns):
        if done.done() and not _in_flight():
            break
        await asyncio.sleep(0)
    if not done.done():
        done.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await done


async def run_until(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    until: datetime,
    step: timedelta = timedelta(seconds=30),
) -> None:
    """Let virtual time pass in steps, firing Home Assistant's timers."""
    while dt_util.utcnow() < until:
        freezer.tick(min(step, until - dt_util.utcnow()))
        async_fire_time_changed(hass)
        await settle(hass)


def our_lines(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    """Return the integration's own log records at ``level`` or above."""
    return [
        record
        for record in caplog.records
        if record.name.startswith(OUR_LOGGER) and record.levelno >= level
    ]


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing was logged with a traceback, and nothing as an unexpected error."""
    for record in caplog.records:
        if record.levelno >= logging.INFO:
            assert record.exc_info is None, record.getMessage()
        assert "Traceback" not in record.getMessage()
        assert "Unexpected error fetching" not in record.getMessage()


def served_latest(cloud: SunvecCloud, wifi_sn: str, field: str) -> Any:
    """Return a field of the record the cloud serves now."""
    return cloud.inverter(wifi_sn).uploads()[-1].record[field]


def restore_memories(
    hass: HomeAssistant, entry: MockConfigEntry, memories: dict[str, dict[str, Any]]
) -> dict[str, str]:
    """Register the entry's sensors and give them a restored state; return their ids."""
    registry = er.async_get(hass)
    ids = {}
    restored = []
    for key, memory in memories.items():
        ids[key] = registry.async_get_or_create(
            "sensor",
            DOMAIN,
            f"{entry.unique_id}_{key}",
            config_entry=entry,
            suggested_object_id=f"restored_{key}",
        ).entity_id
        value = memory.get("day_max", memory.get("total_kwh", memory.get("last_good")))
        restored.append(
            (
                State(ids[key], str(value)),
                {
                    "native_value": value,
                    "native_unit_of_measurement": "kWh",
                    "memory": memory,
                },
            )
        )
    mock_restore_cache_with_extra_data(hass, restored)
    return ids
