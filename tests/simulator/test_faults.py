"""Every fault the simulated cloud can show."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
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
    TOKEN,
    Client,
    Query,
    build_cloud,
)

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
