"""What both benchmarks share: the plant, the served cloud, the virtual clock, the runner.

The benchmarks run the real integration (config entries, coordinators, entities,
policy and budget) in Home Assistant's test harness (pytest-homeassistant-custom-
component's ``hass`` fixture with freezegun) against the simulated cloud served over
loopback HTTP. Home Assistant, its event loop and the simulator all read the frozen
clock, so the benchmarks never wait for real: `VirtualTime` lets everything that can
run at the current instant finish, then jumps the clock straight to the earliest
pending timer of the event loop. The clock need not stop at the simulator's upload
instants: the simulator computes its plants lazily and deterministically, so a
record's ``available_at`` is exact whenever it is asked, and an entity shows a record
at the instant of the poll that fetched it.

Each benchmark is a pytest module that the command-line front end (`run_benchmark`)
starts in a child pytest session with the options in environment variables; every
run writes its result as a JSON file that the front end collects and prints.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time as dt_time, timedelta
import json
import math
import os
from pathlib import Path
import subprocess
import sys
import tempfile
import time
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestServer
import freezegun.api
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import CONF_TOKEN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed_exact,
)

from custom_components.sunvec.api import SunvecClient, SunvecRateLimitError
from custom_components.sunvec.const import CONF_API_ADDRESS, CONF_WIFI_SN, DOMAIN
from sunvec_simulator import SunvecCloud, create_app

REPO = Path(__file__).resolve().parent.parent

# The plants: Amsterdam, as the simulator's defaults; Home Assistant is set up there too.
PLANT_ZONE = "Europe/Amsterdam"
PLANT_LATITUDE = 52.37
PLANT_LONGITUDE = 4.90
# A day around the spring equinox (no DST change in Amsterdam until 30 March).
DEFAULT_DAY = date(2025, 3, 20)
TOKEN = "bench-token-0123456789abcdef"  # noqa: S105 (a made-up token of the simulator)

# Environment variables that carry the options to the child pytest session.
ENV_PREFIX = "SUNVEC_BENCH_"
ENV_RESULTS = f"{ENV_PREFIX}RESULTS"

# Lines of a failed session's output shown.
FAILURE_LINES = 200
# Steps at one instant after which the clock is stuck (a timer that keeps itself due).
MAX_STEPS_AT_ONE_INSTANT = 10_000


def local_midnight(day: date) -> datetime:
    """Return the plant's local midnight at the start of ``day``, aware UTC."""
    return datetime.combine(day, dt_time(), tzinfo=ZoneInfo(PLANT_ZONE)).astimezone(UTC)


def wall_clock() -> float:
    """Return real monotonic seconds, also while freezegun freezes the clock."""
    return freezegun.api.real_monotonic()


def option(name: str, default: str) -> str:
    """Return a benchmark option passed by the front end (or its default)."""
    return os.environ.get(ENV_PREFIX + name.upper(), default)


# --- Calls ----------------------------------------------------------------------------


def scenario_window(
    default_day: date,
) -> tuple[float, float, int, datetime, datetime]:
    """Return the run's options: hours, warm-up hours, seed, and the window.

    The window is the measured span: from the plant's midnight of the day for the
    given hours. The warm-up runs before it.
    """
    day = datetime.fromisoformat(option("day", default_day.isoformat())).date()
    hours = float(option("hours", "24"))
    warmup = float(option("warmup_hours", "1"))
    seed = int(option("seed", "1"))
    window_start = local_midnight(day)
    return hours, warmup, seed, window_start, window_start + timedelta(hours=hours)


@dataclass(slots=True)
class Call:
    """One request of the integration to the cloud."""

    at: float
    wifi_sn: str
    outcome: str
    """``ok``, ``rate_limited`` or ``error``."""
    upload_time: datetime | None = None
    """The naive ``uploadTime`` of the record returned (``ok`` only)."""


@dataclass
class CallLog:
    """Every call the integration makes, and how many are in flight.

    Installed around ``SunvecClient.get_realtime`` (the one place that talks to the
    cloud); it only observes, the call itself is unchanged.
    """

    calls: list[Call] = field(default_factory=list)
    in_flight: int = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Wrap the client's realtime call (undone by ``monkeypatch``)."""
        original = SunvecClient.get_realtime
        log = self

        async def get_realtime(client: SunvecClient, wifi_sn: str) -> Any:
            at = dt_util.utcnow().timestamp()
            log.in_flight += 1
            try:
                record = await original(client, wifi_sn)
            except SunvecRateLimitError:
                log.calls.append(Call(at, wifi_sn, "rate_limited"))
                raise
            except Exception:
                log.calls.append(Call(at, wifi_sn, "error"))
                raise
            finally:
                log.in_flight -= 1
            log.calls.append(Call(at, wifi_sn, "ok", record.upload_time))
            return record

        monkeypatch.setattr(SunvecClient, "get_realtime", get_realtime)


# --- The cloud and Home Assistant ---------------------------------------------------------


@asynccontextmanager
async def served(cloud: SunvecCloud) -> AsyncIterator[str]:
    """Serve a simulated cloud on loopback; yield its API address."""
    server = TestServer(create_app(cloud), host="127.0.0.1")
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


async def locate_at_plant(hass: HomeAssistant) -> None:
    """Put Home Assistant where the simulated plants are (zone and sun)."""
    await hass.config.async_set_time_zone(PLANT_ZONE)
    hass.config.latitude = PLANT_LATITUDE
    hass.config.longitude = PLANT_LONGITUDE
    hass.config.elevation = 0


def config_entry(api_address: str, wifi_sn: str, token: str = TOKEN) -> MockConfigEntry:
    """Return the config entry of one simulated inverter."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=wifi_sn,
        unique_id=wifi_sn,
        data={CONF_API_ADDRESS: api_address, CONF_TOKEN: token, CONF_WIFI_SN: wifi_sn},
    )


def sensor_entity_id(hass: HomeAssistant, wifi_sn: str, key: str) -> str:
    """Return the entity id of an inverter's sensor by its key."""
    found = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{wifi_sn}_{key}")
    if found is None:
        raise LookupError(f"no {key} sensor for {wifi_sn}")
    return found


# --- Virtual time -------------------------------------------------------------------------


class VirtualTime:
    """Moves the frozen clock from one event-loop timer to the next.

    Between two jumps everything that can happen at the current instant happens:
    Home Assistant's tasks (also background ones, e.g. the coordinators' polls) and
    calls in flight over loopback. A task that sleeps on a timer (a coordinator
    waiting for its turn in the call budget before its first call) must not be one
    of Home Assistant's tracked tasks: start it with `run_task`.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        freezer: FrozenDateTimeFactory,
        calls: CallLog,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """Drive ``hass`` with the freezer that freezes its clock.

        The loop's ``run_in_executor`` is wrapped (undone by ``monkeypatch``) to know
        the jobs running in threads: an import or a file written must not see the
        clock jump.
        """
        self._hass = hass
        self._freezer = freezer
        self.calls = calls
        self._in_threads: set[asyncio.Future[Any]] = set()
        self.jumps = 0
        loop = hass.loop
        run_in_executor = loop.run_in_executor
        in_threads = self._in_threads

        def tracked(executor: Any, func: Any, *args: Any) -> asyncio.Future[Any]:
            future = run_in_executor(executor, func, *args)
            in_threads.add(future)
            future.add_done_callback(in_threads.discard)
            return future

        monkeypatch.setattr(loop, "run_in_executor", tracked)

    @staticmethod
    def now() -> float:
        """Return the frozen time (UNIX seconds)."""
        return dt_util.utcnow().timestamp()

    def next_timer(self) -> float | None:
        """Return the wall time of the earliest pending timer of the loop, if any."""
        loop = self._hass.loop
        pending = [
            handle.when()
            for handle in loop._scheduled  # noqa: SLF001 (the loop's timer heap)
            if not handle.cancelled()
        ]
        if not pending:
            return None
        return time.time() + (min(pending) - loop.time())

    async def settle(self) -> None:
        """Run everything that can run without the clock moving."""
        loop = self._hass.loop
        quiet = 0
        while quiet < 2:
            await self._hass.async_block_till_done(wait_background_tasks=True)
            if self._in_threads:
                await asyncio.wait(set(self._in_threads))
            await asyncio.sleep(0)
            busy = (
                self.calls.in_flight or self._in_threads or loop._ready  # noqa: SLF001 (callbacks ready to run)
            )
            quiet = 0 if busy else quiet + 1

    def _jump(self, when: float) -> None:
        """Move the clock to ``when`` (or now) and fire the timers due by then."""
        # A microsecond later than asked: the frozen clock has microseconds, the
        # timers' times are floats.
        micros = max(math.ceil(when * 1e6) + 1, math.ceil(self.now() * 1e6))
        target = datetime.fromtimestamp(micros // 1_000_000, UTC) + timedelta(
            microseconds=micros % 1_000_000
        )
        self._freezer.move_to(target)
        async_fire_time_changed_exact(self._hass, target)
        self.jumps += 1

    async def run_until(self, until: datetime) -> None:
        """Let virtual time pass until ``until``."""
        await self._run(until.timestamp(), lambda: False)

    async def run_task[T](self, work: Awaitable[T], limit: timedelta) -> T:
        """Run ``work`` (as an untracked task) while time passes; return its result.

        Raises:
            TimeoutError: ``work`` did not finish within ``limit`` of virtual time.
        """
        task = asyncio.ensure_future(work)
        await self._run(self.now() + limit.total_seconds(), task.done)
        if not task.done():
            task.cancel()
            raise TimeoutError(f"not done after {limit} of virtual time")
        return task.result()

    async def _run(self, end: float, done: Callable[[], bool]) -> None:
        last, same = self.now(), 0
        while True:
            await self.settle()
            if done():
                return
            upcoming = self.next_timer()
            if upcoming is None or upcoming > end:
                break
            self._jump(max(upcoming, self.now()))
            same = same + 1 if self.now() == last else 0
            last = self.now()
            if same > MAX_STEPS_AT_ONE_INSTANT:
                raise RuntimeError("virtual time is stuck: a timer stays due")
        if self.now() < end and not done():
            self._jump(end)
            await self.settle()


@asynccontextmanager
async def integration_running(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
    cloud: SunvecCloud,
    serials: Sequence[str],
) -> AsyncIterator[VirtualTime]:
    """Set the integration up for inverters of ``cloud`` (one token); unload at the end.

    Serves the cloud on loopback, adds a config entry per inverter and sets them up
    the way Home Assistant starts (all of the domain's entries together), letting
    virtual time pass for the coordinators' turns in the call budget. Yields the
    virtual time, whose ``calls`` log every call.
    """

    calls = CallLog()
    calls.install(monkeypatch)
    clock = VirtualTime(hass, freezer, calls, monkeypatch)
    async with served(cloud) as api_address:
        entries = [config_entry(api_address, wifi_sn) for wifi_sn in serials]
        for entry in entries:
            entry.add_to_hass(hass)
        if not await clock.run_task(
            async_setup_component(hass, DOMAIN, {}), timedelta(hours=1)
        ):
            raise RuntimeError("the integration did not set up")
        try:
            yield clock
        finally:
            for entry in entries:
                await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_block_till_done()


# --- Statistics ---------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Return the ``fraction`` quantile (linear interpolation), None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * fraction
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def rounded(value: float | None, digits: int = 2) -> float | None:
    """Round for the report (no negative zero); None stays None."""
    return None if value is None else round(value, digits) + 0.0


def write_result(result: dict[str, Any], name: str) -> None:
    """Write one run's result where the front end collects it."""
    directory = os.environ.get(ENV_RESULTS)
    if not directory:
        print(json.dumps(result), file=sys.stderr)  # noqa: T201 (run without the front end)
        return
    (Path(directory) / f"{name}.json").write_text(json.dumps(result))


# --- Front end ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A column of the printed table."""

    key: str
    title: str
    width: int
    digits: int = 2


def format_table(rows: Iterable[dict[str, Any]], columns: Sequence[Column]) -> str:
    """Return rows as a fixed-width text table."""

    def cell(value: Any, digits: int) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value + 0.0:.{digits}f}"
        return str(value)

    lines = [
        " ".join(f"{column.title:>{column.width}}" for column in columns),
        " ".join("-" * column.width for column in columns),
    ]
    lines.extend(
        " ".join(
            f"{cell(row.get(column.key), column.digits):>{column.width}}"
            for column in columns
        )
        for row in rows
    )
    return "\n".join(lines)


def add_common_arguments(
    parser: argparse.ArgumentParser, *, parallel: bool = False
) -> None:
    """Add the options both benchmarks have (and ``--workers`` if ``parallel``)."""
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object per line on stdout (the table goes to stderr)",
    )
    parser.add_argument(
        "--hours", type=float, default=24.0, help="simulated hours (default: 24)"
    )
    parser.add_argument(
        "--warmup-hours",
        type=float,
        default=1.0,
        help="hours Home Assistant runs before the measured window (default: 1)",
    )
    parser.add_argument(
        "--day",
        type=date.fromisoformat,
        default=DEFAULT_DAY,
        help=f"the simulated local day, from midnight (default: {DEFAULT_DAY})",
    )
    parser.add_argument(
        "--seed", type=int, default=1, help="the simulator's seed (default: 1)"
    )
    if parallel:
        parser.add_argument(
            "--workers",
            type=int,
            default=min(2, os.cpu_count() or 1),
            help="runs in parallel, in separate processes (default: up to 2)",
        )
    parser.add_argument(
        "--verbose", action="store_true", help="show the pytest session's output"
    )


def run_benchmark(
    module: str, options: dict[str, str], *, workers: int, verbose: bool
) -> list[dict[str, Any]]:
    """Run a benchmark module in a child pytest session; return its results.

    Args:
        module: The benchmark's file, relative to the repository.
        options: Options for the module (see `option`).
        workers: Processes to run the module's runs in (pytest-xdist if > 1).
        verbose: Show pytest's output instead of only a failure's.
    """
    with tempfile.TemporaryDirectory(prefix="sunvec-bench-") as results:
        env = dict(os.environ)
        env.update({ENV_PREFIX + key.upper(): value for key, value in options.items()})
        env[ENV_RESULTS] = results
        command = [
            sys.executable,
            "-m",
            "pytest",
            module,
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:pytest_sugar",
            "--no-cov",
            "-o",
            "addopts=",
            "--timeout=0",
            "--log-level=WARNING",
            "-W",
            "ignore::DeprecationWarning",
        ]
        if workers > 1:
            command += ["-n", str(workers)]
        completed = subprocess.run(  # noqa: S603 (our own interpreter and arguments)
            command,
            cwd=REPO,
            env=env,
            check=False,
            capture_output=not verbose,
            text=True,
        )
        if completed.returncode != 0:
            if not verbose:
                output = (completed.stdout + completed.stderr).splitlines()
                sys.stderr.write("\n".join(output[-FAILURE_LINES:]) + "\n")
            raise SystemExit(f"the benchmark session failed ({completed.returncode})")
        return [
            json.loads(path.read_text()) for path in sorted(Path(results).iterdir())
        ]
