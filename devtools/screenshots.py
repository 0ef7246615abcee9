"""Take docs/images/device.png, energy.png and power.png from the running dev instance.

Logs in through the real login form in headless Chromium (Debian's, driven by
Playwright), then photographs the inverter's device page, the energy dashboard and
its live power flow (the "Now" tab, from Home Assistant 2025.12).
Start ``scripts/develop`` first; see docs/screenshots.md.
"""

# ruff: noqa: T201 (a command-line program: it talks to the user with print)

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from pathlib import Path
import sys

import aiohttp
from playwright.async_api import Page, async_playwright

from devtools.home_assistant import HomeAssistantClient
from devtools.processes import DEFAULT_HTTP_PORT, LOOPBACK, REPO
from devtools.sunvec_demo import DEMO_OWNER, inverter_device_id

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTH = 1280
# After the page's content appears: charts animate and late values arrive.
SETTLE_MS = 3000
PAGE_TIMEOUT_MS = 30_000


@dataclass(frozen=True, kw_only=True)
class Shot:
    """One page to photograph."""

    name: str
    path: str
    """The page's path; ``{device_id}`` is the inverter's device."""
    ready: str
    """A selector that matches once the page shows its content."""
    height: int
    """Tall enough for the page's content: the frontend scrolls inside the page."""


SHOTS = (
    Shot(
        name="device",
        path="/config/devices/device/{device_id}",
        # An entity row of the sensors card, by its translated name.
        ready="text=Total yield",
        height=1500,
    ),
    Shot(
        name="energy",
        path="/energy",
        ready="hui-energy-distribution-card",
        height=1250,
    ),
    # The live power flow (Home Assistant 2025.12 and newer: the "Now" tab).
    Shot(
        name="power",
        path="/energy/now",
        ready="hui-power-sources-graph-card",
        height=800,
    ),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        prog="scripts/screenshots",
        description="Photograph the device page, the energy dashboard and its power flow.",
    )
    parser.add_argument(
        "--url",
        default=f"http://{LOOPBACK}:{DEFAULT_HTTP_PORT}",
        help="the running dev instance (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO / "docs" / "images",
        help="where to save the pictures, one per page (default: docs/images)",
    )
    parser.add_argument(
        "pages",
        nargs="*",
        choices=[shot.name for shot in SHOTS],
        metavar="page",
        help=f"{' or '.join(shot.name for shot in SHOTS)} (default: all)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Take both screenshots; fail with a hint when the dev instance is not ready."""
    args = parse_args(argv)
    try:
        device_id, time_zone = asyncio.run(_find_the_inverter(args.url))
    except TimeoutError:
        print(f"Nothing answers at {args.url}: start scripts/develop first.")
        return 1
    if device_id is None:
        print(f"{args.url} has no Sunvec inverter: was it started by scripts/develop?")
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    shots = [shot for shot in SHOTS if not args.pages or shot.name in args.pages]
    asyncio.run(_photograph(args.url, device_id, time_zone, shots, args.out))
    return 0


async def _find_the_inverter(url: str) -> tuple[str | None, str]:
    """Return the inverter's device id and the instance's time zone."""
    async with aiohttp.ClientSession() as session:
        client = HomeAssistantClient(session, url)
        async with asyncio.timeout(10):
            await client.wait_until_up()
        await client.login(DEMO_OWNER.username, DEMO_OWNER.password)
        config = await client.get("/api/config")
        return await inverter_device_id(client), config["time_zone"]


async def _photograph(
    url: str, device_id: str, time_zone: str, shots: list[Shot], out: Path
) -> None:
    async with async_playwright() as playwright:
        # Playwright gives the browser a fresh profile of its own.
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_FLAGS
        )
        try:
            # The plant's time zone, so that the charts show its hours.
            page = await browser.new_page(
                viewport={"width": WIDTH, "height": max(s.height for s in shots)},
                timezone_id=time_zone,
            )
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            await _log_in(page, url)
            for shot in shots:
                await page.set_viewport_size({"width": WIDTH, "height": shot.height})
                await page.goto(url + shot.path.format(device_id=device_id))
                await page.wait_for_selector(shot.ready)
                await page.wait_for_timeout(SETTLE_MS)
                path = out / f"{shot.name}.png"
                await page.screenshot(path=path)
                print(f"Saved {path}")
        finally:
            await browser.close()


async def _log_in(page: Page, url: str) -> None:
    """Log in through the login form, as a person does."""
    await page.goto(url)
    await page.fill("input[name=username]", DEMO_OWNER.username)
    await page.fill("input[name=password]", DEMO_OWNER.password)
    await page.press("input[name=password]", "Enter")
    # The frontend proper, which replaces the login page (newer frontends give the
    # element no box of its own: attached, not visible).
    await page.wait_for_selector("home-assistant", state="attached")


if __name__ == "__main__":
    sys.exit(main())
