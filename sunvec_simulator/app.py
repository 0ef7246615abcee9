"""The HTTP face of the simulated cloud: the vendor's endpoint plus a small admin API.

``GET`` on the real-time path is answered like ``POST``, with ``wifiSn`` taken from the query
string (the vendor says GET or POST), so ``GET ...realtimeInfo/get?wifiSn=X`` works.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .cloud import SunvecCloud
from .faults import Fault

REALTIME_PATH = "/api/v2/dataAccess/realtimeInfo/get"
TOKEN_HEADER = "tokenId"  # noqa: S105 (a header name)

CLOUD_KEY: web.AppKey[SunvecCloud] = web.AppKey("sunvec_cloud", SunvecCloud)


def _wifi_sn(payload: Any) -> str | None:
    """The ``wifiSn`` of a request, or None if it is missing or not a string."""
    if isinstance(payload, dict):
        wifi_sn = payload.get("wifiSn")
        if isinstance(wifi_sn, str) and wifi_sn:
            return wifi_sn
    return None


async def _answer(request: web.Request, wifi_sn: str | None) -> web.Response:
    cloud = request.app[CLOUD_KEY]
    reply = await cloud.realtime_info(request.headers.get(TOKEN_HEADER), wifi_sn)
    return web.Response(
        status=reply.status,
        text=reply.body,
        content_type=reply.content_type,
        headers=reply.headers,
    )


async def _realtime_post(request: web.Request) -> web.Response:
    try:
        payload = json.loads(await request.read())
    except ValueError:
        payload = None
    return await _answer(request, _wifi_sn(payload))


async def _realtime_get(request: web.Request) -> web.Response:
    return await _answer(request, _wifi_sn(dict(request.query)))


def _bad_request(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


async def _set_fault(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD_KEY]
    try:
        payload = json.loads(await request.read())
    except ValueError:
        return _bad_request("the body must be a JSON object")
    if not isinstance(payload, dict):
        return _bad_request("the body must be a JSON object")
    params = dict(payload)
    try:
        fault = Fault(params.pop("fault", None))
    except ValueError:
        return _bad_request(f"'fault' must be one of: {', '.join(Fault)}")
    token, wifi_sn, count = (
        params.pop("token", None),
        params.pop("wifi_sn", None),
        params.pop("count", None),
    )
    if not all(value is None or isinstance(value, str) for value in (token, wifi_sn)):
        return _bad_request("'token' and 'wifi_sn' must be strings")
    try:
        cloud.set_fault(fault, token=token, wifi_sn=wifi_sn, count=count, **params)
    except (TypeError, ValueError) as err:
        return _bad_request(str(err))
    return web.json_response({"faults": cloud.describe_faults()})


async def _clear_faults(request: web.Request) -> web.Response:
    cloud = request.app[CLOUD_KEY]
    cloud.clear_faults()
    return web.json_response({"faults": cloud.describe_faults()})


async def _list_faults(request: web.Request) -> web.Response:
    return web.json_response({"faults": request.app[CLOUD_KEY].describe_faults()})


async def _stats(request: web.Request) -> web.Response:
    return web.json_response(request.app[CLOUD_KEY].stats())


def create_app(cloud: SunvecCloud) -> web.Application:
    """An aiohttp application serving ``cloud``."""
    app = web.Application()
    app[CLOUD_KEY] = cloud
    app.router.add_post(REALTIME_PATH, _realtime_post)
    app.router.add_get(REALTIME_PATH, _realtime_get, allow_head=False)
    app.router.add_post("/admin/faults", _set_fault)
    app.router.add_delete("/admin/faults", _clear_faults)
    app.router.add_get("/admin/faults", _list_faults, allow_head=False)
    app.router.add_get("/admin/stats", _stats, allow_head=False)
    return app
