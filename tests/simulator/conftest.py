"""Fixtures for the simulator's tests: a virtual clock, a small cloud and an HTTP client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
import pytest

from sunvec_simulator import InverterKind, SunvecCloud, VirtualClock, create_app

# Local midnight in Amsterdam (CEST) at the start of a summer day.
START = datetime(2024, 6, 19, 22, 0, tzinfo=UTC)
TOKEN = "test-token-one"
OTHER_TOKEN = "test-token-two"
GRID_SN = "SVTESTGRD1"
HYBRID_SN = "SVTESTHYB1"
THREE_PHASE_SN = "SVTEST3PH1"
OTHER_SN = "SVTESTGRD2"
REALTIME_PATH = "/api/v2/dataAccess/realtimeInfo/get"

type Query = Callable[..., Awaitable[tuple[int, Any]]]
type Client = TestClient[web.Request, web.Application]


def build_cloud(clock: VirtualClock, **kwargs: Any) -> SunvecCloud:
    """A cloud with one inverter of each kind on TOKEN and one on OTHER_TOKEN."""
    kwargs.setdefault("seed", 7)
    cloud = SunvecCloud(clock=clock, **kwargs)
    cloud.add_inverter(TOKEN, GRID_SN, kind=InverterKind.GRID_TIED)
    cloud.add_inverter(TOKEN, HYBRID_SN, kind=InverterKind.HYBRID, peak_power_w=6000.0)
    cloud.add_inverter(
        TOKEN, THREE_PHASE_SN, kind=InverterKind.THREE_PHASE, peak_power_w=10000.0
    )
    cloud.add_inverter(OTHER_TOKEN, OTHER_SN, kind=InverterKind.GRID_TIED)
    return cloud


@pytest.fixture
def clock() -> VirtualClock:
    """A clock at local midnight in Amsterdam."""
    return VirtualClock(START)


@pytest.fixture
def cloud(clock: VirtualClock) -> SunvecCloud:
    """A cloud without rate limits (tests of the limits build their own)."""
    return build_cloud(clock, rate_limit_per_minute=None, rate_limit_per_day=None)


@pytest.fixture
async def client(
    socket_enabled: None,
    aiohttp_client: Callable[..., Awaitable[Client]],
    cloud: SunvecCloud,
) -> Client:
    """An HTTP client talking to ``cloud`` on loopback."""
    return await aiohttp_client(create_app(cloud))


@pytest.fixture
def query(client: Client) -> Query:
    """POST a real-time query; return the HTTP status and the decoded reply."""

    async def run(
        wifi_sn: str = HYBRID_SN, token: str | None = TOKEN
    ) -> tuple[int, Any]:
        headers = {"tokenId": token} if token is not None else {}
        response = await client.post(
            REALTIME_PATH, json={"wifiSn": wifi_sn}, headers=headers
        )
        return response.status, await response.json()

    return run
