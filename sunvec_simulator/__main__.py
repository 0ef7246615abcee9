"""Run the demo cloud: ``python -m sunvec_simulator --host 127.0.0.1 --port 8765``."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
import contextlib
import json

from aiohttp import web

from .app import REALTIME_PATH, TOKEN_HEADER, create_app
from .clock import ScaledClock
from .cloud import SunvecCloud
from .demo import DEMO_TOKEN, DEMO_WIFI_SN, demo_cloud


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m sunvec_simulator",
        description="Run a simulated Sunvec Connect cloud.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=8765, help="port to listen on (0: any free port)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the simulated weather"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per real second (e.g. 288 makes a day last 5 minutes)",
    )
    args = parser.parse_args(argv)
    if args.speed <= 0:
        parser.error("--speed must be positive")
    return args


def banner(cloud: SunvecCloud, address: str) -> str:
    """What to print once the server listens: address, token, inverters, a curl to try."""
    lines = [
        "Sunvec Connect simulator ready",
        f"  API address: {address}",
        "  Inverters (token: wifiSn kind):",
    ]
    lines += [
        f"    {cloud.token_label(inverter.token)}: {inverter.wifi_sn} {inverter.kind.value}"
        for inverter in cloud.inverters
    ]
    body = json.dumps({"wifiSn": DEMO_WIFI_SN})
    lines += [
        f"  Demo token: {DEMO_TOKEN}",
        f"  Demo wifiSn (hybrid): {DEMO_WIFI_SN}",
        "  Try:",
        (
            f"    curl -s -X POST {address}{REALTIME_PATH} -H '{TOKEN_HEADER}: {DEMO_TOKEN}'"
            f" -H 'Content-Type: application/json' -d '{body}'"
        ),
        f"  Faults: POST/DELETE {address}/admin/faults; statistics: GET {address}/admin/stats",
    ]
    return "\n".join(lines)


async def serve(
    cloud: SunvecCloud,
    host: str,
    port: int,
    *,
    on_ready: Callable[[str], object] | None = None,
) -> None:
    """Serve ``cloud`` until cancelled; port 0 takes a free one.

    Once listening, prints the banner and calls ``on_ready`` with the address.
    """
    runner = web.AppRunner(create_app(cloud), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        shown = f"[{host}]" if ":" in host else host
        address = f"http://{shown}:{bound_port}"
        print(banner(cloud, address), flush=True)
        if on_ready is not None:
            on_ready(address)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> None:
    """Run the demo cloud on a real (optionally accelerated) clock."""
    args = parse_args(argv)
    cloud = demo_cloud(ScaledClock(args.speed), seed=args.seed)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(cloud, args.host, args.port))


if __name__ == "__main__":
    main()
