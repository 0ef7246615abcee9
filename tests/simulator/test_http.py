"""The simulated cloud over real HTTP on loopback: replies, errors, rate limits, admin."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import json
from typing import Any

import aiohttp
import pytest

from sunvec_simulator import (
    DEMO_TOKEN,
    DEMO_WIFI_SN,
    Fault,
    InverterKind,
    SunvecCloud,
    VirtualClock,
    create_app,
    demo_cloud,
)
from sunvec_simulator.__main__ import banner, parse_args, serve

from .conftest import (
    GRID_SN,
    HYBRID_SN,
    OTHER_SN,
    OTHER_TOKEN,
    REALTIME_PATH,
    START,
    TOKEN,
    Client,
    Query,
    build_cloud,
)

type ClientFactory = Callable[..., Awaitable[Client]]

REPLY_KEYS = ["success", "exception", "result", "code"]


def error(code: int, exception: str) -> dict[str, Any]:
    return {"success": False, "exception": exception, "result": None, "code": code}


@pytest.fixture
def http(socket_enabled: None, aiohttp_client: ClientFactory) -> ClientFactory:
    """Serve any cloud on loopback."""

    async def run(cloud: SunvecCloud) -> Client:
        return await aiohttp_client(create_app(cloud))

    return run


async def test_success_reply(client: Client, cloud: SunvecCloud) -> None:
    response = await client.post(
        REALTIME_PATH, json={"wifiSn": HYBRID_SN}, headers={"tokenId": TOKEN}
    )
    assert response.status == 200
    assert response.content_type == "application/json"
    reply = await response.json()
    assert list(reply) == REPLY_KEYS
    assert reply["success"] is True
    assert reply["exception"] == "Query success!"
    assert reply["code"] == 0
    latest = cloud.inverter(HYBRID_SN).uploads()[-1]
    assert reply["result"] == latest.record
    assert list(reply["result"]) == list(latest.record)
    assert cloud.requests_served == {TOKEN: 1}


async def test_get_reads_wifi_sn_from_the_query_string(client: Client) -> None:
    response = await client.get(
        REALTIME_PATH, params={"wifiSn": GRID_SN}, headers={"tokenId": TOKEN}
    )
    reply = await response.json()
    assert reply["success"] is True
    assert reply["result"]["sn"] == GRID_SN
    response = await client.get(REALTIME_PATH, headers={"tokenId": TOKEN})
    assert await response.json() == error(1002, "Parameter validation failed")


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        ({}, {"wifiSn": HYBRID_SN}, error(1001, "Interface unauthorized")),
        ({"tokenId": ""}, {"wifiSn": HYBRID_SN}, error(1001, "Interface unauthorized")),
        (
            {"tokenId": "wrong"},
            {"wifiSn": HYBRID_SN},
            error(1001, "Interface unauthorized"),
        ),
        ({"tokenId": TOKEN}, "not json", error(1002, "Parameter validation failed")),
        (
            {"tokenId": TOKEN},
            ["SVTESTHYB1"],
            error(1002, "Parameter validation failed"),
        ),
        ({"tokenId": TOKEN}, {}, error(1002, "Parameter validation failed")),
        (
            {"tokenId": TOKEN},
            {"wifiSn": 12},
            error(1002, "Parameter validation failed"),
        ),
        (
            {"tokenId": TOKEN},
            {"wifiSn": ""},
            error(1002, "Parameter validation failed"),
        ),
        ({"tokenId": TOKEN}, {"wifiSn": OTHER_SN}, error(1003, "Data unauthorized")),
        (
            {"tokenId": OTHER_TOKEN},
            {"wifiSn": HYBRID_SN},
            error(1003, "Data unauthorized"),
        ),
        ({"tokenId": TOKEN}, {"wifiSn": "SVNOSUCH01"}, error(2002, "Data not found")),
    ],
)
async def test_error_replies(
    client: Client,
    cloud: SunvecCloud,
    headers: dict[str, str],
    body: Any,
    expected: dict[str, Any],
) -> None:
    data = body if isinstance(body, str) else json.dumps(body)
    response = await client.post(REALTIME_PATH, data=data, headers=headers)
    assert response.status == 200
    text = await response.text()
    assert json.loads(text) == expected
    assert list(json.loads(text)) == REPLY_KEYS
    assert sum(cloud.requests_served.values()) == 1


async def test_inverter_without_any_upload_yet(http: ClientFactory) -> None:
    clock = VirtualClock(START.replace(month=12))
    cloud = SunvecCloud(clock=clock)
    # Polar night: the inverter never wakes, so it has never uploaded.
    cloud.add_inverter(
        TOKEN, "POLAR", kind=InverterKind.GRID_TIED, latitude=78.2, longitude=15.6
    )
    client = await http(cloud)
    response = await client.post(
        REALTIME_PATH, json={"wifiSn": "POLAR"}, headers={"tokenId": TOKEN}
    )
    assert await response.json() == error(2002, "Data not found")


async def test_rate_limit_per_minute(http: ClientFactory) -> None:
    clock = VirtualClock(START)
    cloud = build_cloud(clock, rate_limit_per_minute=3, rate_limit_per_day=None)
    client = await http(cloud)

    async def ask(token: str = TOKEN, wifi_sn: str = HYBRID_SN) -> dict[str, Any]:
        response = await client.post(
            REALTIME_PATH, json={"wifiSn": wifi_sn}, headers={"tokenId": token}
        )
        return dict(await response.json())

    # Inverters on one token share the limit; errors count too.
    assert (await ask())["success"]
    assert (await ask(wifi_sn=GRID_SN))["success"]
    assert (await ask(wifi_sn="SVNOSUCH01"))["code"] == 2002
    refused = await ask()
    assert refused == error(104, "current minute > threshold")
    assert list(refused) == REPLY_KEYS
    assert (await ask())["code"] == 104
    # Another token has its own budget.
    assert (await ask(OTHER_TOKEN, OTHER_SN))["success"]
    # Bad tokens are not counted against anyone.
    assert (await ask("wrong"))["code"] == 1001
    assert cloud.requests_rate_limited == {TOKEN: 2}
    assert cloud.requests_served[TOKEN] == 5
    # Fixed window: the next calendar minute starts afresh.
    clock.set(START.replace(second=59))
    assert (await ask())["code"] == 104
    clock.set(START.replace(minute=1))
    assert (await ask())["success"]


async def test_rate_limit_per_day(http: ClientFactory) -> None:
    clock = VirtualClock(START.replace(hour=23, minute=58))
    cloud = build_cloud(clock, rate_limit_per_minute=None, rate_limit_per_day=2)
    client = await http(cloud)

    async def ask() -> dict[str, Any]:
        response = await client.post(
            REALTIME_PATH, json={"wifiSn": HYBRID_SN}, headers={"tokenId": TOKEN}
        )
        return dict(await response.json())

    assert (await ask())["success"]
    clock.advance(60)
    assert (await ask())["success"]
    assert await ask() == error(3, "maximum call threshold")
    assert cloud.requests_rate_limited == {TOKEN: 1}
    clock.advance(120)  # a new UTC day
    assert (await ask())["success"]


async def test_both_limits_off(http: ClientFactory) -> None:
    cloud = build_cloud(
        VirtualClock(START), rate_limit_per_minute=None, rate_limit_per_day=None
    )
    client = await http(cloud)
    for _ in range(30):
        response = await client.post(
            REALTIME_PATH, json={"wifiSn": HYBRID_SN}, headers={"tokenId": TOKEN}
        )
        assert (await response.json())["success"]
    assert cloud.requests_rate_limited == {}


async def test_default_limits(http: ClientFactory) -> None:
    cloud = build_cloud(VirtualClock(START))
    client = await http(cloud)
    codes = []
    for _ in range(11):
        response = await client.post(
            REALTIME_PATH, json={"wifiSn": HYBRID_SN}, headers={"tokenId": TOKEN}
        )
        codes.append((await response.json())["code"])
    assert codes == [0] * 10 + [104]


async def test_admin_faults(client: Client, cloud: SunvecCloud, query: Query) -> None:
    response = await client.post(
        "/admin/faults",
        json={"fault": "error_code", "code": 2001, "count": 1, "token": TOKEN},
    )
    assert response.status == 200
    described = (await response.json())["faults"]
    assert described == [
        {
            "fault": "error_code",
            "token": cloud.token_label(TOKEN),
            "wifi_sn": None,
            "remaining": 1,
            "code": 2001,
            "exception": None,
        }
    ]
    assert TOKEN not in json.dumps(described)
    assert (await query()) == (200, error(2001, "Operation failed"))
    assert (await query())[1]["success"]
    # Record-level faults are listed per inverter.
    response = await client.post(
        "/admin/faults", json={"fault": "uploads_stopped", "wifi_sn": GRID_SN}
    )
    assert (await response.json())["faults"] == [
        {
            "fault": "uploads_stopped",
            "token": None,
            "wifi_sn": GRID_SN,
            "remaining": None,
            "inverter": GRID_SN,
        }
    ]
    await client.post("/admin/faults", json={"fault": "http_500"})
    response = await client.get("/admin/faults")
    assert len((await response.json())["faults"]) == 2
    response = await client.delete("/admin/faults")
    assert (await response.json()) == {"faults": []}
    assert (await query())[1]["success"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("nope", "JSON object"),
        ([1], "JSON object"),
        ({"fault": "volcano"}, "must be one of"),
        ({}, "must be one of"),
        ({"fault": "http_500", "token": 5}, "must be strings"),
        ({"fault": "http_500", "count": 0}, "positive"),
        ({"fault": "http_500", "colour": "red"}, "unexpected parameters: colour"),
        ({"fault": "error_code"}, "integer 'code'"),
        ({"fault": "counter_zero", "field": "soc"}, "'field' must be one of"),
        ({"fault": "echo_token", "where": "body"}, "'where' must be one of"),
        ({"fault": "http_429", "retry_after": "60"}, "'retry_after' must be"),
        ({"fault": "absurd_value", "value": "1e7"}, "'value' must be a number"),
        ({"fault": "upload_time_format", "style": "x"}, "'style' must be one of"),
    ],
)
async def test_admin_rejects_bad_faults(
    client: Client, body: Any, message: str
) -> None:
    data = body if isinstance(body, str) else json.dumps(body)
    response = await client.post("/admin/faults", data=data)
    assert response.status == 400
    assert message in (await response.json())["error"]


async def test_admin_sets_the_field_faults(
    client: Client, cloud: SunvecCloud, clock: VirtualClock, query: Query
) -> None:
    huge = "1" + "0" * 400
    response = await client.post(
        "/admin/faults",
        data='{"fault": "absurd_value", "field": "yieldtotal", "value": ' + huge + "}",
    )
    assert response.status == 200
    for body in (
        {"fault": "http_429", "retry_after": 30, "count": 1},
        {"fault": "lockout", "count": 1},
        {"fault": "upload_time_format", "style": "garbage", "text": "soon"},
        {"fault": "utc_time_off", "hours": 8},
    ):
        response = await client.post("/admin/faults", json=body)
        assert response.status == 200, await response.text()
    faults = {entry["fault"] for entry in (await response.json())["faults"]}
    assert {"absurd_value", "http_429", "lockout", "upload_time_format"} <= faults
    response = await client.post(
        REALTIME_PATH, json={"wifiSn": HYBRID_SN}, headers={"tokenId": TOKEN}
    )
    assert (response.status, response.headers["Retry-After"]) == (429, "30")
    assert (await query())[1]["code"] == 1
    clock.advance(3600)
    _, reply = await query()
    assert reply["result"]["uploadTime"] == "soon"
    assert "utcDateTime" in reply["result"]
    uploads = cloud.inverter(HYBRID_SN).uploads()
    assert any(upload.record["yieldtotal"] == 10**400 for upload in uploads)


async def test_admin_stats(
    client: Client, cloud: SunvecCloud, clock: VirtualClock, query: Query
) -> None:
    await query()
    await query(token="not-a-real-token")
    await query(token=None)
    cloud.set_fault(Fault.RATE_LIMITED, count=1)
    await query()
    clock.advance(3600)
    response = await client.get("/admin/stats")
    stats = await response.json()
    assert stats["now"] == clock().isoformat()
    assert stats["requests_served"] == {
        cloud.token_label(TOKEN): 2,
        cloud.token_label("not-a-real-token"): 1,
        "(none)": 1,
    }
    assert stats["requests_rate_limited"] == {cloud.token_label(TOKEN): 1}
    assert stats["uploads"][HYBRID_SN] == len(cloud.inverter(HYBRID_SN).uploads())
    assert set(stats["uploads"]) == {inverter.wifi_sn for inverter in cloud.inverters}
    assert stats["faults"] == []
    text = json.dumps(stats)
    assert TOKEN not in text
    assert "not-a-real-token" not in text


async def test_demo_cloud(http: ClientFactory) -> None:
    cloud = demo_cloud(VirtualClock(START), seed=2)
    demo = [inverter for inverter in cloud.inverters if inverter.token == DEMO_TOKEN]
    assert sorted(inverter.kind for inverter in demo) == sorted(InverterKind)
    assert cloud.inverter(DEMO_WIFI_SN).kind is InverterKind.HYBRID
    others = [inverter for inverter in cloud.inverters if inverter.token != DEMO_TOKEN]
    assert len(others) == 2
    assert len({inverter.token for inverter in others}) == 1
    client = await http(cloud)
    response = await client.post(
        REALTIME_PATH, json={"wifiSn": DEMO_WIFI_SN}, headers={"tokenId": DEMO_TOKEN}
    )
    assert (await response.json())["result"]["sn"] == DEMO_WIFI_SN
    response = await client.get("/admin/stats")
    assert DEMO_TOKEN in (await response.json())["requests_served"]


def test_cli_arguments_and_banner() -> None:
    args = parse_args(["--port", "9000", "--seed", "3", "--speed", "60"])
    assert (args.host, args.port, args.seed, args.speed) == ("127.0.0.1", 9000, 3, 60.0)
    with pytest.raises(SystemExit):
        parse_args(["--speed", "0"])
    cloud = demo_cloud(VirtualClock(START))
    text = banner(cloud, "http://127.0.0.1:8765")
    assert "http://127.0.0.1:8765" in text
    assert DEMO_TOKEN in text
    for inverter in cloud.inverters:
        assert f"{inverter.wifi_sn} {inverter.kind.value}" in text
    assert (
        f"curl -s -X POST http://127.0.0.1:8765{REALTIME_PATH} -H 'tokenId: {DEMO_TOKEN}'"
        in text
    )


async def test_cli_server_answers(
    socket_enabled: None, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud = demo_cloud(VirtualClock(START))
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(cloud, "127.0.0.1", 0, on_ready=ready.set_result))
    try:
        await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
        address = ready.result()  # raises if serve failed before it was ready
        assert address.startswith("http://127.0.0.1:")
        assert not address.endswith(":0")
        assert f"API address: {address}" in capsys.readouterr().out
        async with aiohttp.ClientSession() as session:
            response = await session.post(
                f"{address}{REALTIME_PATH}",
                json={"wifiSn": DEMO_WIFI_SN},
                headers={"tokenId": DEMO_TOKEN},
            )
            assert (await response.json())["success"]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
