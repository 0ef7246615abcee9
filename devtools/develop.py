"""Run the dev instance: the simulator and Home Assistant on config/, set up for the demo.

Started by ``scripts/develop``; Ctrl-C stops both. A second run reuses the
onboarded instance, its inverter and its energy dashboard.
"""

# ruff: noqa: T201 (a command-line program: it talks to the user with print)

from __future__ import annotations

import argparse
import asyncio
from ctypes.util import find_library
import shutil
import signal
import subprocess
import sys
import time
from types import FrameType

import aiohttp

from devtools.home_assistant import HomeAssistantClient, HomeAssistantError
from devtools.processes import (
    DEFAULT_HTTP_PORT,
    LOOPBACK,
    REPO,
    is_listening,
    prepare_config,
    start_home_assistant,
    start_simulator,
    stop,
    wait_for_port,
)
from devtools.sunvec_demo import (
    DEMO_OWNER,
    PLANTS,
    DemoPlant,
    inverter_device_id,
    set_up_demo,
)

CONFIG_DIR = REPO / "config"
HOME_ASSISTANT_URL = f"http://{LOOPBACK}:{DEFAULT_HTTP_PORT}"
# The first start creates the database; later starts take seconds.
START_TIMEOUT = 120.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        prog="scripts/develop",
        description="Run Home Assistant with the integration against the simulator.",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="simulated seconds per real second (default: real time)",
    )
    parser.add_argument("--seed", type=int, help="seed of the simulated weather")
    parser.add_argument(
        "--plant",
        choices=sorted(PLANTS),
        default="amsterdam",
        help="where the demo's hybrid inverter and Home Assistant stand; sydney has "
        "daylight while Europe sleeps, in config/sydney/ (default: amsterdam, "
        "in config/)",
    )
    parser.add_argument(
        "--simulator-port",
        type=int,
        default=8765,
        help="port of the simulator; the inverter is added with it (default: 8765)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Start both, set up the demo, print how to log in, run until Ctrl-C."""
    args = parse_args(argv)
    for port in (args.simulator_port, DEFAULT_HTTP_PORT):
        if is_listening(port):
            print(f"Port {port} is in use: is scripts/develop running already?")
            return 1
    # Stop as cleanly on SIGTERM (e.g. from an IDE) as on Ctrl-C.
    signal.signal(signal.SIGTERM, _interrupt)

    _hint_at_missing_system_packages()
    started = time.monotonic()
    plant = PLANTS[args.plant]
    config_dir = CONFIG_DIR if args.plant == "amsterdam" else CONFIG_DIR / args.plant
    prepare_config(
        config_dir,
        location={
            "time_zone": plant.time_zone,
            "latitude": str(plant.latitude),
            "longitude": str(plant.longitude),
            "country": plant.country,
        }
        if config_dir != CONFIG_DIR
        else None,
    )
    children: list[subprocess.Popen[bytes]] = []
    try:
        simulator = start_simulator(
            args.simulator_port, speed=args.speed, seed=args.seed
        )
        children.append(simulator)
        wait_for_port(args.simulator_port, simulator, timeout=30)
        home_assistant = start_home_assistant(config_dir)
        children.append(home_assistant)
        wait_for_port(DEFAULT_HTTP_PORT, home_assistant, timeout=START_TIMEOUT)
        api_address = f"http://{LOOPBACK}:{args.simulator_port}"
        done, device_id = asyncio.run(_set_up(api_address, plant))
        _print_ready(done, device_id, time.monotonic() - started)
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("\nStopping Home Assistant and the simulator ...")
        return 0
    except HomeAssistantError as err:
        print(
            f"Setting up the demo failed: {err}\n"
            "If config/ was onboarded with another owner, remove config/.storage "
            "(and config/home-assistant_v2.db) to start over.",
            file=sys.stderr,
        )
        return 1
    except (RuntimeError, TimeoutError) as err:
        print(
            f"Starting failed: {err or 'timed out'}; see config/home-assistant.log",
            file=sys.stderr,
        )
        return 1
    else:
        print("A child exited; stopping the rest.", file=sys.stderr)
        return 1
    finally:
        # Home Assistant first, so that it does not log the simulator going away.
        for child in reversed(children):
            stop(child)


def _hint_at_missing_system_packages() -> None:
    """Say which of Home Assistant's system packages are missing, and what shows it."""
    missing = []
    if find_library("turbojpeg") is None:
        missing.append(("libturbojpeg0", "camera code"))
    if shutil.which("ffmpeg") is None:
        missing.append(("ffmpeg", "ffmpeg integration (set up from 2026.x)"))
    for package, part in missing:
        print(
            f"Note: without {package}, Home Assistant's {part} logs a traceback at"
            f" start, harmless here (Debian, Ubuntu: sudo apt-get install {package})."
        )


async def _set_up(api_address: str, plant: DemoPlant) -> tuple[list[str], str | None]:
    async with aiohttp.ClientSession() as session:
        client = HomeAssistantClient(session, HOME_ASSISTANT_URL)
        async with asyncio.timeout(START_TIMEOUT):
            await client.wait_until_up()
            done = await set_up_demo(client, api_address, plant)
            return done, await inverter_device_id(client, plant.wifi_sn)


def _print_ready(done: list[str], device_id: str | None, seconds: float) -> None:
    lines = [
        "",
        f"Ready in {seconds:.1f} s: {'; '.join(done) or 'config/ was set up already'}.",
        f"  Home Assistant: {HOME_ASSISTANT_URL}",
        f"  Log in as:      {DEMO_OWNER.username} / {DEMO_OWNER.password}",
    ]
    if device_id is not None:
        lines.append(
            f"  The inverter:   {HOME_ASSISTANT_URL}/config/devices/device/{device_id}"
        )
    lines += [
        "                  (Settings → Devices & services → Sunvec Connect → the inverter)",
        f"  Energy:         {HOME_ASSISTANT_URL}/energy",
        "  Logs:           config/home-assistant.log (sunvec at debug)",
        "  Ctrl-C stops Home Assistant and the simulator.",
        "",
    ]
    print("\n".join(lines), flush=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
