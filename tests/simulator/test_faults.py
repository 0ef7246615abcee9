"""Every fault the simulated cloud can show."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sunvec_simulator import Fault, SunvecCloud, Upload, VirtualClock, create_app

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

type Ask = Callable[..., Awaitable[dict[str, Any]]]
type HttpCloud = Callable[..., Awaitable[tuple[SunvecCloud, Ask]]]


@pytest.fixture
def http_cloud(socket_enabled: None, aiohttp_client: Any) -> HttpCloud:
    """Build a cloud with its own settings, serve it, and return it with a way to ask."""

    async def run(clock: VirtualClock, **settings: Any) -> tuple[SunvecCloud, Ask]:
        cloud = build_cloud(clock, **settings)
        client = await aiohttp_client(create_app(cloud))

        async def ask(token: str = TOKEN, wifi_sn: str = HYBRID_SN) -> dict[str, Any]:
            response = await client.post(
                REALTIME_PATH, json={"wifiSn": wifi_sn}, headers={"tokenId": token}
            )
            return dict(await response.json())

        return cloud, ask

    return run


AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def uploads_after(cloud: SunvecCloud, wifi_sn: str, since: datetime) -> list[Upload]:
    return [u for u in cloud.inverter(wifi_sn).uploads() if u.available_at > since]


def test_every_fault_is_known() -> None:
    assert {fault.value for fault in Fault} == {
        "revoked_token",
        "http_500",
        "http_502",
        "hang",
        "malformed_json",
        "numbers_as_strings",
        "null_values",
        "error_code",
        "rate_limited",
        "counter_zero",
        "counter_lower",
        "yesterday_yield_today",
        "uploads_stopped",
        "unknown_status",
        "future_upload_time",
        "lockout",
        "http_429",
        "reason_in_result",
        "server_busy",
        "redirect",
        "nested_json",
        "echo_token",
        "utc_time_off",
        "absurd_value",
        "upload_time_format",
    }


def test_fault_arguments_are_checked(cloud: SunvecCloud) -> None:
    with pytest.raises(ValueError, match="count"):
        cloud.set_fault(Fault.HTTP_500, count=0)
    with pytest.raises(ValueError, match="count"):
        cloud.set_fault(Fault.HTTP_500, count=True)
    with pytest.raises(ValueError, match="unexpected"):
        cloud.set_fault(Fault.HANG, seconds=3)
    with pytest.raises(TypeError, match="code"):
        cloud.set_fault(Fault.ERROR_CODE, code="2001")
    with pytest.raises(ValueError, match="exception"):
        cloud.set_fault(Fault.ERROR_CODE, code=2001, exception=5)
    with pytest.raises(ValueError, match="amount"):
        cloud.set_fault(Fault.COUNTER_LOWER, amount=-1)
    with pytest.raises(TypeError, match="code"):
        cloud.set_fault(Fault.UNKNOWN_STATUS, code=1.5)
    with pytest.raises(TypeError, match="hours"):
        cloud.set_fault(Fault.FUTURE_UPLOAD_TIME, hours="2")
    with pytest.raises(ValueError, match="volcano"):
        cloud.set_fault("volcano")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no inverter"):
        cloud.set_fault(Fault.COUNTER_ZERO, wifi_sn="SVNOSUCH01")
    with pytest.raises(ValueError, match="no inverter"):
        cloud.set_fault(Fault.UPLOADS_STOPPED, token=OTHER_TOKEN, wifi_sn=HYBRID_SN)
    with pytest.raises(TypeError, match="code"):
        cloud.set_fault(Fault.RATE_LIMITED, code="104")
    with pytest.raises(TypeError, match="exception"):
        cloud.set_fault(Fault.LOCKOUT, exception=1)
    with pytest.raises(ValueError, match="negative"):
        cloud.set_fault(Fault.HTTP_429, retry_after=-1)
    with pytest.raises(TypeError, match="http_date"):
        cloud.set_fault(Fault.HTTP_429, http_date="yes")
    with pytest.raises(TypeError, match="reason"):
        cloud.set_fault(Fault.REASON_IN_RESULT, reason=None)
    with pytest.raises(ValueError, match="status"):
        cloud.set_fault(Fault.REDIRECT, status=200)
    with pytest.raises(TypeError, match="location"):
        cloud.set_fault(Fault.REDIRECT, location=5)
    with pytest.raises(ValueError, match="depth"):
        cloud.set_fault(Fault.NESTED_JSON, depth=0)
    with pytest.raises(ValueError, match="where"):
        cloud.set_fault(Fault.ECHO_TOKEN, where="body")
    with pytest.raises(TypeError, match="hours"):
        cloud.set_fault(Fault.UTC_TIME_OFF, hours=None)
    with pytest.raises(ValueError, match="field"):
        cloud.set_fault(Fault.ABSURD_VALUE, field="uploadTime")
    with pytest.raises(TypeError, match="value"):
        cloud.set_fault(Fault.ABSURD_VALUE, value="1e7")
    with pytest.raises(ValueError, match="style"):
        cloud.set_fault(Fault.UPLOAD_TIME_FORMAT, style="iso")
    with pytest.raises(ValueError, match="garbage"):
        cloud.set_fault(Fault.UPLOAD_TIME_FORMAT, style="slashes", text="x")
    with pytest.raises(ValueError, match="unexpected"):
        cloud.set_fault(Fault.SERVER_BUSY, code=1)
    cloud.set_fault("http_502", count=1)  # type: ignore[arg-type]
    assert cloud.describe_faults()[0]["fault"] == "http_502"


async def test_revoked_token(cloud: SunvecCloud, query: Query) -> None:
    cloud.set_fault(Fault.REVOKED_TOKEN, token=TOKEN)
    unauthorized = {
        "success": False,
        "exception": "Interface unauthorized",
        "result": None,
        "code": 1001,
    }
    for _ in range(3):
        assert await query() == (200, unauthorized)
    assert (await query(OTHER_SN, OTHER_TOKEN))[1]["success"]
    cloud.clear_faults()
    assert (await query())[1]["success"]
    cloud.set_fault(Fault.REVOKED_TOKEN, count=2)
    assert (await query())[1]["code"] == 1001
    assert (await query(OTHER_SN, OTHER_TOKEN))[1]["code"] == 1001
    assert (await query())[1]["success"]


@pytest.mark.parametrize(
    ("fault", "status", "reason"),
    [
        (Fault.HTTP_500, 500, "Internal Server Error"),
        (Fault.HTTP_502, 502, "Bad Gateway"),
    ],
)
async def test_http_errors(
    client: Client,
    cloud: SunvecCloud,
    query: Query,
    fault: Fault,
    status: int,
    reason: str,
) -> None:
    cloud.set_fault(fault, count=2, wifi_sn=HYBRID_SN)
    for _ in range(2):
        response = await client.post(
            REALTIME_PATH, json={"wifiSn": HYBRID_SN}, headers={"tokenId": TOKEN}
        )
        assert response.status == status
        assert response.content_type == "text/html"
        assert f"<title>{status} {reason}</title>" in await response.text()
    assert (await query(GRID_SN))[1]["success"]  # out of the fault's scope
    assert (await query())[1]["success"]  # count used up
    assert cloud.requests_served[TOKEN] == 4


class Gate:
    """A sleep for the cloud that waits until the test opens it, never for time."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.opened = asyncio.Event()
        self.slept: list[float] = []
        self.ended = 0

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.entered.set()
        try:
            await self.opened.wait()
        finally:  # woken, or cancelled with an abandoned request
            self.ended += 1


async def test_hang(
    socket_enabled: None, aiohttp_client: Any, clock: VirtualClock
) -> None:
    gate = Gate()
    cloud = build_cloud(
        clock, rate_limit_per_minute=None, rate_limit_per_day=None, sleep=gate.sleep
    )
    client = await aiohttp_client(create_app(cloud))

    async def ask() -> dict[str, Any]:
        response = await client.post(
            REALTIME_PATH, json={"wifiSn": HYBRID_SN}, headers={"tokenId": TOKEN}
        )
        return dict(await response.json())

    cloud.hang_seconds = 42.0
    cloud.set_fault(Fault.HANG, count=1)
    # An impatient client gives up while the cloud hangs.
    abandoned = asyncio.create_task(ask())
    await gate.entered.wait()
    abandoned.cancel()
    with pytest.raises(asyncio.CancelledError):
        await abandoned
    assert gate.slept == [42.0]
    assert (await ask())["success"]  # the count is used up: no hang
    # A patient client gets the ordinary reply once the hang is over.
    gate.entered.clear()
    cloud.set_fault(Fault.HANG, count=1)
    patient = asyncio.create_task(ask())
    await gate.entered.wait()
    assert not patient.done()
    gate.opened.set()
    assert (await patient)["success"]
    assert gate.slept == [42.0, 42.0]
    assert gate.ended == 2  # nothing of the abandoned request is left waiting


async def test_malformed_json(client: Client, cloud: SunvecCloud, query: Query) -> None:
    cloud.set_fault(Fault.MALFORMED_JSON, count=1)
    response = await client.post(
        REALTIME_PATH, json={"wifiSn": HYBRID_SN}, headers={"tokenId": TOKEN}
    )
    assert response.status == 200
    text = await response.text()
    assert text.startswith('{"success":true')
    with pytest.raises(json.JSONDecodeError):
        json.loads(text)
    assert (await query())[1]["success"]


async def test_numbers_as_strings(cloud: SunvecCloud, query: Query) -> None:
    record = cloud.inverter(HYBRID_SN).uploads()[-1].record
    cloud.set_fault(Fault.NUMBERS_AS_STRINGS, count=1)
    _, reply = await query()
    assert reply["code"] == 0
    result = reply["result"]
    assert result["acpower"] == str(record["acpower"])
    assert result["yieldtotal"] == str(record["yieldtotal"])
    for key, value in record.items():
        if value is None:
            assert result[key] is None
        else:
            assert result[key] == str(value)
    assert (await query())[1]["result"] == record


async def test_null_values(cloud: SunvecCloud, query: Query) -> None:
    record = cloud.inverter(HYBRID_SN).uploads()[-1].record
    cloud.set_fault(Fault.NULL_VALUES, count=1)
    result = (await query())[1]["result"]
    for key, value in record.items():
        if isinstance(value, str):
            assert result[key] == value
        else:
            assert result[key] is None, key
    assert (await query())[1]["result"] == record


async def test_error_code(cloud: SunvecCloud, query: Query) -> None:
    cloud.set_fault(Fault.ERROR_CODE, code=103, count=1)
    assert (await query())[1] == {
        "success": False,
        "exception": "token invalid",
        "result": None,
        "code": 103,
    }
    cloud.set_fault(Fault.ERROR_CODE, code=2001, exception="Operation failed!", count=1)
    assert (await query())[1] == {
        "success": False,
        "exception": "Operation failed!",
        "result": None,
        "code": 2001,
    }
    cloud.set_fault(Fault.ERROR_CODE, code=9999, count=1)
    assert (await query())[1]["exception"] == "Operation failed"
    assert (await query())[1]["success"]


async def test_forced_rate_limit(cloud: SunvecCloud, query: Query) -> None:
    cloud.set_fault(Fault.RATE_LIMITED, token=TOKEN, count=2)
    expected = {
        "success": False,
        "exception": "current minute > threshold",
        "result": None,
        "code": 104,
    }
    assert (await query())[1] == expected
    assert (await query(OTHER_SN, OTHER_TOKEN))[1]["success"]
    assert (await query())[1] == expected
    assert (await query())[1]["success"]
    assert cloud.requests_rate_limited == {TOKEN: 2}


@pytest.mark.parametrize("counter", ["yieldtotal", "feedinenergy", "consumeenergy"])
async def test_counter_zero(
    cloud: SunvecCloud, clock: VirtualClock, query: Query, counter: str
) -> None:
    clock.advance(12 * 3600)
    now = clock()
    before = cloud.inverter(HYBRID_SN).uploads()[-1].record
    cloud.set_fault(Fault.COUNTER_ZERO, field=counter, wifi_sn=HYBRID_SN)
    clock.advance(3600)
    first, second, *_ = uploads_after(cloud, HYBRID_SN, now)
    assert first.record[counter] == 0
    assert second.record[counter] >= before[counter]
    # Out of scope: the grid-tied inverter's records are untouched.
    assert all(u.record[counter] > 0 for u in uploads_after(cloud, GRID_SN, now))
    # Between uploads the cloud keeps returning the glitched record.
    clock.set(first.available_at + timedelta(seconds=10))
    assert (await query())[1]["result"][counter] == 0


async def test_counter_lower(cloud: SunvecCloud, clock: VirtualClock) -> None:
    clock.advance(12 * 3600)
    now = clock()
    before = cloud.inverter(HYBRID_SN).uploads()[-1].record
    cloud.set_fault(Fault.COUNTER_LOWER, count=2)
    cloud.set_fault(Fault.COUNTER_LOWER, field="feedinenergy", amount=1.5)
    clock.advance(3600)
    first, second, third, *_ = uploads_after(cloud, HYBRID_SN, now)
    assert (
        0.9 * before["yieldtotal"] < first.record["yieldtotal"] < before["yieldtotal"]
    )
    assert second.record["yieldtotal"] < first.record["yieldtotal"] + 1
    assert third.record["yieldtotal"] >= before["yieldtotal"]
    assert first.record["feedinenergy"] == pytest.approx(
        second.record["feedinenergy"] - 1.5, abs=0.5
    )
    assert second.record["feedinenergy"] >= before["feedinenergy"]


async def test_yesterday_yield_today(cloud: SunvecCloud, clock: VirtualClock) -> None:
    clock.advance(12 * 3600)  # noon, 20 June
    cloud.set_fault(Fault.YESTERDAY_YIELD_TODAY, wifi_sn=HYBRID_SN, count=2)
    clock.advance(14 * 3600)
    uploads = cloud.inverter(HYBRID_SN).uploads()
    midnight = datetime(2024, 6, 21, tzinfo=AMSTERDAM)
    before = [u for u in uploads if u.available_at < midnight]
    after = [u for u in uploads if u.available_at >= midnight]
    truth = cloud.inverter(HYBRID_SN).energy_truth(
        midnight - timedelta(days=1), midnight
    )["ac"]
    assert before[-1].record["yieldtoday"] == pytest.approx(truth, abs=0.1)
    # The first uploads after midnight repeat yesterday's total, then it resets.
    assert after[0].record["yieldtoday"] == round(truth, 1)
    assert after[1].record["yieldtoday"] == round(truth, 1)
    assert after[2].record["yieldtoday"] < 0.3
    # Only in scope: the grid-tied inverter's first record of the day starts from zero.
    clock.advance(6 * 3600)
    grid = [u for u in cloud.inverter(GRID_SN).uploads() if u.available_at >= midnight]
    assert grid[0].record["yieldtoday"] < 0.1


async def test_uploads_stopped(
    cloud: SunvecCloud, clock: VirtualClock, query: Query
) -> None:
    clock.advance(10 * 3600)
    last = cloud.inverter(HYBRID_SN).uploads()[-1]
    cloud.set_fault(
        Fault.UPLOADS_STOPPED, wifi_sn=HYBRID_SN, count=1
    )  # count is ignored
    clock.advance(2 * 3600)
    assert cloud.inverter(HYBRID_SN).uploads()[-1] == last
    assert (await query())[1]["result"] == last.record
    assert uploads_after(cloud, GRID_SN, last.available_at + timedelta(hours=1))
    cloud.clear_faults()
    clock.advance(600)
    resumed = uploads_after(cloud, HYBRID_SN, last.available_at)
    assert 1 <= len(resumed) <= 2
    assert resumed[0].available_at > clock() - timedelta(seconds=600)


async def test_unknown_status(
    cloud: SunvecCloud, clock: VirtualClock, query: Query
) -> None:
    clock.advance(12 * 3600)
    now = clock()
    cloud.set_fault(Fault.UNKNOWN_STATUS, wifi_sn=HYBRID_SN)
    cloud.set_fault(Fault.UNKNOWN_STATUS, wifi_sn=GRID_SN, code=777, count=2)
    clock.advance(3600)
    hybrid = [u.record["inverterStatus"] for u in uploads_after(cloud, HYBRID_SN, now)]
    grid = [u.record["inverterStatus"] for u in uploads_after(cloud, GRID_SN, now)]
    assert hybrid[:2] == ["199", "102"]
    assert grid[:3] == ["777", "777", "102"]


async def test_future_upload_time(
    cloud: SunvecCloud, clock: VirtualClock, query: Query
) -> None:
    clock.advance(6 * 3600)
    now = clock()
    cloud.set_fault(Fault.FUTURE_UPLOAD_TIME, wifi_sn=HYBRID_SN)
    cloud.set_fault(Fault.FUTURE_UPLOAD_TIME, wifi_sn=GRID_SN, hours=-1.5)
    clock.advance(3600)
    shifted = uploads_after(cloud, HYBRID_SN, now)
    assert len(shifted) >= 10
    for upload in shifted:
        local = upload.available_at.astimezone(AMSTERDAM).replace(tzinfo=None)
        assert upload.upload_time == local + timedelta(hours=2)
        assert upload.record["uploadTime"] == upload.upload_time.strftime(
            "%Y-%m-%d %H:%M:%S"
        )
    reply = (await query())[1]["result"]
    assert reply["uploadTime"] == shifted[-1].record["uploadTime"]
    for upload in uploads_after(cloud, GRID_SN, now):
        local = upload.available_at.astimezone(AMSTERDAM).replace(tzinfo=None)
        assert upload.upload_time == local - timedelta(hours=1.5)
    cloud.clear_faults()
    later = clock()
    clock.advance(3600)
    for upload in uploads_after(cloud, HYBRID_SN, later):
        assert upload.upload_time == upload.available_at.astimezone(AMSTERDAM).replace(
            tzinfo=None
        )


def describe(cloud: SunvecCloud) -> list[dict[str, Any]]:
    return cloud.describe_faults()


def test_faults_are_used_up_and_described(
    cloud: SunvecCloud, clock: VirtualClock
) -> None:
    cloud.set_fault(Fault.COUNTER_ZERO, token=OTHER_TOKEN)
    assert describe(cloud) == [
        {
            "fault": "counter_zero",
            "token": cloud.token_label(OTHER_TOKEN),
            "wifi_sn": None,
            "remaining": 1,
            "field": "yieldtotal",
            "inverter": OTHER_SN,
        }
    ]
    clock.advance(12 * 3600)
    cloud.inverter(OTHER_SN).uploads()
    assert describe(cloud) == []


# -- faults seen in the field (API document, part 2) -----------------------------------

LOCKOUT_REPLY = {
    "success": False,
    "exception": "There have been several violations in a row, and the system will"
    " prohibit calls within the next hour",
    "result": None,
    "code": 1,
}


async def test_forced_lockout_and_rate_limit_texts(
    cloud: SunvecCloud, query: Query
) -> None:
    cloud.set_fault(Fault.LOCKOUT, token=TOKEN, count=1)
    assert await query() == (200, LOCKOUT_REPLY)
    cloud.set_fault(
        Fault.RATE_LIMITED,
        code=None,
        exception="Accumulated 3 requests within 5 minutes exceed the maximum call"
        " threshold",
        count=1,
    )
    _, reply = await query()
    assert list(reply) == ["success", "exception", "result"]
    assert reply["exception"].startswith("Accumulated 3 requests")
    cloud.set_fault(Fault.RATE_LIMITED, code=None, count=1)
    assert (await query())[1] == {
        "success": False,
        "exception": "current minute > threshold",
        "result": None,
    }
    assert (await query())[1]["success"]
    assert cloud.requests_rate_limited == {TOKEN: 3}


async def test_repeated_violations_lock_the_token_out(http_cloud: HttpCloud) -> None:
    clock = VirtualClock(START)
    cloud, ask = await http_cloud(
        clock, rate_limit_per_minute=1, rate_limit_per_day=None, lockout_after=3
    )
    assert (await ask())["success"]
    assert (await ask())["code"] == 104
    assert (await ask())["code"] == 104
    assert cloud.locked_until(TOKEN) is None
    assert await ask() == LOCKOUT_REPLY  # the third refusal in a row locks
    assert cloud.locked_until(TOKEN) == START + timedelta(hours=1)
    # The hour holds: a new minute, and the other token, change nothing for TOKEN.
    for minutes in (1, 30, 59):
        clock.set(START + timedelta(minutes=minutes))
        assert await ask() == LOCKOUT_REPLY
    assert (await ask(OTHER_TOKEN, OTHER_SN))["success"]
    assert cloud.requests_rate_limited[TOKEN] == 6
    clock.set(START + timedelta(hours=1))
    assert cloud.locked_until(TOKEN) is None
    assert (await ask())["success"]


async def test_an_accepted_call_breaks_the_row(http_cloud: HttpCloud) -> None:
    clock = VirtualClock(START)
    cloud, ask = await http_cloud(
        clock,
        rate_limit_per_minute=1,
        rate_limit_per_day=None,
        lockout_after=2,
        lockout_seconds=1800,
    )
    assert (await ask())["success"]
    assert (await ask())["code"] == 104
    clock.advance(60)
    assert (await ask())["success"]
    assert (await ask())["code"] == 104  # one refusal in a row again
    lockout = await ask()
    assert lockout["code"] == 1
    assert lockout["exception"].endswith("within the next 30 minutes")
    assert cloud.locked_until(TOKEN) == clock() + timedelta(minutes=30)


def test_lockout_settings_are_checked(clock: VirtualClock) -> None:
    with pytest.raises(ValueError, match="lockout_after"):
        SunvecCloud(clock=clock, lockout_after=0)
    with pytest.raises(ValueError, match="lockout_seconds"):
        SunvecCloud(clock=clock, lockout_seconds=0)


@pytest.mark.parametrize(
    ("params", "retry_after"),
    [
        ({}, "60"),
        ({"retry_after": 0}, "0"),
        ({"retry_after": 120, "http_date": True}, "Thu, 20 Jun 2024 00:02:00 GMT"),
        ({"retry_after": None}, None),
    ],
)
async def test_http_429(
    client: Client,
    cloud: SunvecCloud,
    clock: VirtualClock,
    query: Query,
    params: dict[str, Any],
    retry_after: str | None,
) -> None:
    clock.set(datetime(2024, 6, 20, 0, 0, 0, tzinfo=UTC))
    cloud.set_fault(Fault.HTTP_429, count=1, **params)
    response = await client.post(
        REALTIME_PATH, json={"wifiSn": HYBRID_SN}, headers={"tokenId": TOKEN}
    )
    assert response.status == 429
    assert response.headers.get("Retry-After") == retry_after
    assert response.headers["Date"] == "Thu, 20 Jun 2024 00:00:00 GMT"  # the cloud's
    assert "429 Too Many Requests" in await response.text()
    assert cloud.requests_rate_limited == {TOKEN: 1}
    assert (await query())[1]["success"]


async def test_reason_in_result_and_busy(cloud: SunvecCloud, query: Query) -> None:
    cloud.set_fault(Fault.REASON_IN_RESULT, count=1)
    _, reply = await query()
    assert reply == {
        "success": False,
        "exception": "Query success!",
        "result": "this sn did not access!",
    }
    assert list(reply) == ["success", "exception", "result"]
    cloud.set_fault(Fault.REASON_IN_RESULT, reason="nope", exception=None, count=1)
    assert (await query())[1] == {"success": False, "exception": None, "result": "nope"}
    cloud.set_fault(Fault.SERVER_BUSY, count=1)
    assert (await query())[1] == {
        "success": False,
        "exception": "The server is busy. Please try again later!",
        "result": None,
    }
    assert (await query())[1]["success"]


@pytest.mark.parametrize(
    ("params", "status", "location"),
    [
        (
            {},
            302,
            "https://api.sunvec-elsewhere.example/api/v2/dataAccess/realtimeInfo/get",
        ),
        ({"status": 308, "location": REALTIME_PATH}, 308, REALTIME_PATH),
    ],
)
async def test_redirect(
    client: Client,
    cloud: SunvecCloud,
    params: dict[str, Any],
    status: int,
    location: str,
) -> None:
    cloud.set_fault(Fault.REDIRECT, count=1, **params)
    response = await client.post(
        REALTIME_PATH,
        json={"wifiSn": HYBRID_SN},
        headers={"tokenId": TOKEN},
        allow_redirects=False,
    )
    assert response.status == status
    assert response.headers["Location"] == location
    if location == REALTIME_PATH:  # a redirect to itself: the next call is answered
        followed = await client.post(
            location, json={"wifiSn": HYBRID_SN}, headers={"tokenId": TOKEN}
        )
        assert (await followed.json())["success"]


async def test_nested_json(client: Client, cloud: SunvecCloud, query: Query) -> None:
    cloud.set_fault(Fault.NESTED_JSON, count=1)
    response = await client.post(
        REALTIME_PATH, json={"wifiSn": HYBRID_SN}, headers={"tokenId": TOKEN}
    )
    text = await response.text()
    assert text.startswith('{"success":true,"exception":"Query success!","result":[[[')
    assert text.count("[") == 100_000
    with pytest.raises(RecursionError):
        json.loads(text)
    cloud.set_fault(Fault.NESTED_JSON, depth=3, count=1)
    assert (await query())[1]["result"] == [[[]]]
    assert (await query())[1]["success"]


@pytest.mark.parametrize("where", ["exception", "result", "html", "location"])
async def test_echo_token(client: Client, cloud: SunvecCloud, where: str) -> None:
    cloud.set_fault(Fault.ECHO_TOKEN, where=where, count=1)
    response = await client.post(
        REALTIME_PATH,
        json={"wifiSn": HYBRID_SN},
        headers={"tokenId": TOKEN},
        allow_redirects=False,
    )
    if where == "location":
        assert response.status == 302
        location = response.headers["Location"]
        assert location.startswith("https://api.sunvec-elsewhere.example/")
        assert location.count(TOKEN) == 2
    else:
        text = await response.text()
        assert TOKEN in text
        assert response.status == (502 if where == "html" else 200)
        if where == "result":
            assert json.loads(text)["result"] == f"tokenId {TOKEN} did not access!"
        if where == "exception":
            assert json.loads(text)["code"] == 1001
    assert TOKEN not in json.dumps(cloud.describe_faults())


async def test_utc_date_time(
    http_cloud: HttpCloud, cloud: SunvecCloud, query: Query
) -> None:
    # Not sent unless asked for: the default records are the vendor example's keys.
    assert "utcDateTime" not in (await query())[1]["result"]
    cloud.set_fault(Fault.UTC_TIME_OFF, count=1)
    off = (await query())[1]["result"]
    latest = cloud.inverter(HYBRID_SN).uploads()[-1]
    eight_hours = latest.available_at + timedelta(hours=8)
    assert off["utcDateTime"] == eight_hours.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert off["uploadTime"] == latest.record["uploadTime"]
    assert "utcDateTime" not in (await query())[1]["result"]
    # A cloud that sends it sends it right, and off when told.
    clock = VirtualClock(START + timedelta(hours=12))
    sending, ask = await http_cloud(clock, utc_date_time=True)
    reply = (await ask())["result"]
    upload = sending.inverter(HYBRID_SN).uploads()[-1]
    assert reply["utcDateTime"] == upload.available_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert list(reply)[-1] == "utcDateTime"
    sending.set_fault(Fault.UTC_TIME_OFF, hours=-2.5)
    shifted = upload.available_at - timedelta(hours=2.5)
    for _ in range(2):
        assert (await ask())["result"]["utcDateTime"] == shifted.strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )


@pytest.mark.parametrize(
    ("field", "value", "literal"),
    [
        ("acpower", None, "10000000.0"),
        ("powerdc1", 1e308, "1e+308"),
        ("yieldtotal", 1e7, "10000000.0"),
        ("feedinpower", 10**400, "1" + "0" * 400),
    ],
)
async def test_absurd_value(
    client: Client,
    cloud: SunvecCloud,
    clock: VirtualClock,
    field: str,
    value: float | None,
    literal: str,
) -> None:
    clock.advance(12 * 3600)
    now = clock()
    params = {"field": field} | ({} if value is None else {"value": value})
    cloud.set_fault(Fault.ABSURD_VALUE, wifi_sn=HYBRID_SN, **params)
    clock.advance(3600)
    first, second, *_ = uploads_after(cloud, HYBRID_SN, now)
    assert first.record[field] == (1e7 if value is None else value)
    assert second.record[field] != first.record[field]
    clock.set(first.available_at + timedelta(seconds=10))
    response = await client.post(
        REALTIME_PATH, json={"wifiSn": HYBRID_SN}, headers={"tokenId": TOKEN}
    )
    assert f'"{field}":{literal},' in await response.text()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, "2024-06-20T12:"),
        ({"style": "milliseconds"}, "2024-06-20 12:"),
        ({"style": "slashes"}, "2024/06/20 12:"),
        ({"style": "no_seconds"}, "2024-06-20 12:"),
        ({"style": "utc_offset"}, "2024-06-20T12:"),
        ({"style": "garbage"}, "0000-00-00 00:00:00"),
        ({"style": "garbage", "text": "soon"}, "soon"),
    ],
)
async def test_upload_time_format(
    cloud: SunvecCloud,
    clock: VirtualClock,
    query: Query,
    params: dict[str, Any],
    expected: str,
) -> None:
    clock.advance(12 * 3600)  # noon in Amsterdam
    now = clock()
    cloud.set_fault(Fault.UPLOAD_TIME_FORMAT, wifi_sn=HYBRID_SN, count=1, **params)
    clock.advance(1800)
    shaped = uploads_after(cloud, HYBRID_SN, now)
    assert len(shaped) >= 5  # until cleared, whatever count says
    style = params.get("style", "t_separator")
    for upload in shaped:
        local = upload.available_at.astimezone(AMSTERDAM)
        assert upload.upload_time == local.replace(tzinfo=None)  # the truth is kept
        text = upload.record["uploadTime"]
        assert text.startswith(expected)
        if style != "garbage":
            assert text == local.strftime(
                {
                    "t_separator": "%Y-%m-%dT%H:%M:%S",
                    "milliseconds": "%Y-%m-%d %H:%M:%S.000",
                    "slashes": "%Y/%m/%d %H:%M:%S",
                    "no_seconds": "%Y-%m-%d %H:%M",
                    "utc_offset": "%Y-%m-%dT%H:%M:%S+02:00",
                }[style]
            )
    assert (await query())[1]["result"]["uploadTime"] == shaped[-1].record["uploadTime"]
    cloud.clear_faults()
    later = clock()
    clock.advance(1800)
    for upload in uploads_after(cloud, HYBRID_SN, later):
        assert upload.record["uploadTime"] == upload.upload_time.strftime(
            "%Y-%m-%d %H:%M:%S"
        )
