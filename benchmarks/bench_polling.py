"""Benchmark: polling that follows the uploads, against simpler polling.

Runs the real integration (config entries on one token, coordinators, entities,
``UploadPolicy`` and the shared ``TokenBudget``) against the simulated cloud with its
defaults: uploads every 300 s ± 5 s, 2 % of them missed, rate limits on (10 calls a
minute, 10,000 a day per token). Grid-tied inverters at Amsterdam, which sleep at
night. Home Assistant starts ``--warmup-hours`` before local midnight of ``--day``;
the numbers cover ``--hours`` from that midnight.

Policies:

* ``adaptive``: the integration as it is.
* ``fixed_60``, ``fixed_120``, ``fixed_300``: a poll every 60/120/300 s, whatever the
  replies say (what a ``DataUpdateCoordinator`` with an ``update_interval`` does).
* ``after_upload_30``: 30 s after the expected upload (the last ``uploadTime`` + 300 s,
  read in Home Assistant's zone), then every 60 s until a new record arrives.

The baselines are small `PollScheduler`s that replace the integration's
``AdaptiveScheduler`` (its ``UploadPolicy`` and the shared ``TokenBudget``): they poll
on their own timer without any call budget (no spacing, no limits: what other
integrations do); everything else is the real integration.

Metrics (all over the measured window unless said otherwise):

* ``calls``: requests to the cloud, refused ones included.
* ``new_records``: uploads made available in the window that an entity showed.
* ``calls_per_new_record``: ``calls / new_records``.
* ``staleness_median_s``, ``staleness_p95_s``: from the instant the simulator made a
  record available (``Upload.available_at``) to the instant the inverter's
  ``last_upload`` sensor changed to it, over the records shown.
* ``missed_records``: uploads replaced by the next upload before any poll saw them.
* ``night_calls_per_hour``: calls between sunset and sunrise, per inverter and per
  hour of night inside the window. Sunset and sunrise are Home Assistant's (``sun``
  at the plant's location: the sun's upper edge at the horizon, with refraction),
  which the policy is told about; the nights of the simulator's sun (its centre at
  the horizon, about 10 minutes shorter each side at the equinox) give
  ``plant_night_calls_per_hour`` in the extras. Either way the count includes any
  poll the policy makes before sunrise (``MORNING_LEAD``, zero by default).
* ``limit_violations``: requests the simulator refused for a rate limit, over the
  whole run (warm-up included: start-up bursts are where they happen).

The table adds ``day_c/rec``: calls per record between sunrise and sunset. Each run
also keeps extras (night and day counts, empty calls, the largest staleness...) in
its result; ``--dump DIR`` writes every call and upload of each run as CSV files.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Callable, Iterator
import csv
from dataclasses import dataclass
from datetime import date, datetime, timedelta
import functools
import json
from pathlib import Path
import random
import sys
import time
from typing import Any
from zoneinfo import ZoneInfo

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import (
    EVENT_STATE_CHANGED,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    SUN_EVENT_SUNRISE,
    SUN_EVENT_SUNSET,
)
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er, sun
from homeassistant.util import dt as dt_util
import pytest

from benchmarks.harness import (
    DEFAULT_DAY,
    PLANT_ZONE,
    TOKEN,
    Call,
    CallLog,
    Column,
    add_common_arguments,
    format_table,
    integration_running,
    locate_at_plant,
    option,
    percentile,
    rounded,
    run_benchmark,
    scenario_window,
    wall_clock,
    write_result,
)
from custom_components.sunvec import coordinator as coordinator_module
from custom_components.sunvec.budget_registry import DATA_BUDGETS
from custom_components.sunvec.const import DOMAIN
from custom_components.sunvec.errors import Failure
from custom_components.sunvec.scheduler import PollScheduler, PollTimer, ReplyFacts
from sunvec_simulator import InverterKind, SunvecCloud

POLICIES = ("adaptive", "fixed_60", "fixed_120", "fixed_300", "after_upload_30")
INVERTER_COUNTS = (1, 10, 34, 50)
UPLOAD_INTERVAL = 300.0
RESULT_KEYS = (
    "policy",
    "inverters",
    "simulated_hours",
    "calls",
    "new_records",
    "calls_per_new_record",
    "staleness_median_s",
    "staleness_p95_s",
    "missed_records",
    "night_calls_per_hour",
    "limit_violations",
)


# --- Baselines ------------------------------------------------------------------------


class FixedIntervalScheduler(PollScheduler):
    """Polls every ``interval`` seconds, whatever the replies say, with no budget."""

    def __init__(
        self,
        hass: HomeAssistant,
        account: str,
        wifi_sn: str,
        poll: Callable[[], None],
        *,
        interval: float,
    ) -> None:
        """Poll every ``interval`` seconds (what ``update_interval`` does)."""
        del account, wifi_sn
        self.interval = interval
        self._timer = PollTimer(hass, poll)

    @property
    def cadence(self) -> float:
        """Return the documented upload period (nothing is learned)."""
        return UPLOAD_INTERVAL

    async def async_wait_first_turn(self) -> None:
        """Call at once: no budget."""

    def claim_call(self) -> bool:
        """Allow every call: no budget."""
        return True

    def observe_reply(self, now: float, facts: ReplyFacts) -> None:
        """Poll again an interval later."""
        self._timer.arm(self._next_poll(now, facts))

    def observe_failure(
        self, now: float, failure: Failure, retry_after: float | None
    ) -> float | None:
        """Poll again an interval later (never after a refused token)."""
        del retry_after
        if failure is Failure.AUTH:
            self._timer.cancel()
        else:
            self._timer.arm(now + self.interval)
        return None

    def stop(self) -> None:
        """Stop the timer."""
        self._timer.stop()

    def diagnostics(self) -> dict[str, Any]:
        """Return nothing: nothing is learned."""
        return {}

    def _next_poll(self, now: float, facts: ReplyFacts) -> float:
        del facts
        return now + self.interval


class AfterUploadScheduler(FixedIntervalScheduler):
    """Polls ``delay`` seconds after the expected upload, then every ``interval`` s.

    The expected upload is the last record's upload instant plus the documented
    300 s.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        account: str,
        wifi_sn: str,
        poll: Callable[[], None],
        *,
        delay: float,
        interval: float = 60.0,
    ) -> None:
        """Poll ``delay`` s after the expected upload, then every ``interval`` s."""
        super().__init__(hass, account, wifi_sn, poll, interval=interval)
        self.delay = delay
        self._last_upload: float | None = None

    def _next_poll(self, now: float, facts: ReplyFacts) -> float:
        """Aim after the next expected upload when the record is new."""
        if facts.upload_ts is not None and facts.upload_ts != self._last_upload:
            self._last_upload = facts.upload_ts
            aim = facts.upload_ts + UPLOAD_INTERVAL + self.delay
            if aim > now:
                return aim
        return now + self.interval


BASELINES: dict[str, Callable[..., PollScheduler]] = {
    "fixed_60": functools.partial(FixedIntervalScheduler, interval=60.0),
    "fixed_120": functools.partial(FixedIntervalScheduler, interval=120.0),
    "fixed_300": functools.partial(FixedIntervalScheduler, interval=300.0),
    "after_upload_30": functools.partial(AfterUploadScheduler, delay=30.0),
}


# --- The runs -------------------------------------------------------------------------


def _listed(name: str, default: str) -> list[str]:
    return [item.strip() for item in option(name, default).split(",") if item.strip()]


def _runs() -> list[tuple[str, int]]:
    policies = _listed("policies", ",".join(POLICIES))
    counts = [int(count) for count in _listed("inverters", "1,10,34,50")]
    unknown = set(policies) - set(POLICIES)
    if unknown:
        raise ValueError(f"unknown policies: {', '.join(sorted(unknown))}")
    # The longest runs first, so that parallel workers finish together.
    polls_per_hour = {"fixed_60": 60, "fixed_120": 30}
    return sorted(
        ((policy, count) for policy in policies for count in counts),
        key=lambda run: -run[1] * polls_per_hour.get(run[0], 15),
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Make one run per policy and inverter count asked for."""
    if {"policy", "inverters"} <= set(metafunc.fixturenames):
        runs = _runs()
        metafunc.parametrize(
            ("policy", "inverters"),
            runs,
            ids=[f"{policy}-{count}" for policy, count in runs],
        )


type SunTimes = Callable[[date], tuple[datetime, datetime] | None]


def _ha_sun(hass: HomeAssistant) -> SunTimes:
    """Return Home Assistant's sunrise and sunset of a local day (what ``sun`` shows)."""

    def times(day: date) -> tuple[datetime, datetime] | None:
        sunrise = sun.get_astral_event_date(hass, SUN_EVENT_SUNRISE, day)
        sunset = sun.get_astral_event_date(hass, SUN_EVENT_SUNSET, day)
        return None if sunrise is None or sunset is None else (sunrise, sunset)

    return times


def _night_intervals(
    sun_times: SunTimes, start: float, end: float
) -> list[tuple[float, float]]:
    """Return the parts of [start, end) between sunset and sunrise."""
    zone = ZoneInfo(PLANT_ZONE)
    day = datetime.fromtimestamp(start, zone).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end, zone).date() + timedelta(days=1)
    days: list[tuple[float, float]] = []
    while day <= last:
        if (times := sun_times(day)) is not None:
            days.append((times[0].timestamp(), times[1].timestamp()))
        day += timedelta(days=1)
    nights: list[tuple[float, float]] = []
    cursor = start
    for sunrise, sunset in sorted(days):
        if sunrise > cursor:
            nights.append((cursor, min(sunrise, end)))
        cursor = max(cursor, sunset)
        if cursor >= end:
            break
    if cursor < end:
        nights.append((cursor, end))
    return [(a, b) for a, b in nights if b > a]


def _inside(at: float, intervals: list[tuple[float, float]]) -> bool:
    return any(a <= at < b for a, b in intervals)


@pytest.mark.usefixtures("socket_enabled")
async def test_polling(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
    policy: str,
    inverters: int,
) -> None:
    """Simulate the day of a fleet polled by one policy; write its numbers."""
    started = wall_clock()
    hours, warmup, seed, window_start, window_end = scenario_window(DEFAULT_DAY)

    freezer.move_to(window_start - timedelta(hours=warmup))
    # Home Assistant's retry delays and the policy's backoff draw from ``random``.
    random.seed(seed)
    await locate_at_plant(hass)
    if policy in BASELINES:
        monkeypatch.setattr(coordinator_module, "AdaptiveScheduler", BASELINES[policy])
    cloud = SunvecCloud(clock=dt_util.utcnow, seed=seed)
    serials = [f"SVBENCH{index:03d}" for index in range(inverters)]
    for index, wifi_sn in enumerate(serials):
        cloud.add_inverter(
            TOKEN,
            wifi_sn,
            kind=InverterKind.GRID_TIED,
            peak_power_w=3000.0 + (index * 1237) % 5000,
        )

    shown: dict[str, list[tuple[float, float]]] = defaultdict(list)
    _listen_to_last_upload(hass, shown)
    async with integration_running(hass, freezer, monkeypatch, cloud, serials) as clock:
        # The baselines run without a call budget (as in the field), the
        # integration with its own.
        budgets = hass.data[DATA_BUDGETS].budgets
        assert bool(budgets) == (policy not in BASELINES), (
            f"{policy} runs with the wrong call budget"
        )
        await clock.run_until(window_end)

    name = f"{policy}-{inverters}"
    start, end = window_start.timestamp(), window_end.timestamp()
    window = Window(
        start,
        end,
        _night_intervals(_ha_sun(hass), start, end),
        _night_intervals(cloud.inverter(serials[0]).sun_times, start, end),
    )
    result = _measure(
        cloud, calls=clock.calls, shown=shown, serials=serials, window=window, name=name
    )
    result |= {"policy": policy, "inverters": inverters, "simulated_hours": hours}
    result["extra"] |= {
        "wall_s": round(wall_clock() - started, 1),
        "clock_jumps": clock.jumps,
    }
    write_result(result, name)


def _listen_to_last_upload(
    hass: HomeAssistant, shown: dict[str, list[tuple[float, float]]]
) -> None:
    """Record (when, upload instant) each time a ``last_upload`` sensor changes."""
    registry = er.async_get(hass)
    owners: dict[str, str | None] = {}

    @callback
    def changed(event: Event[EventStateChangedData]) -> None:
        entity_id = event.data["entity_id"]
        if entity_id not in owners:
            entry = registry.async_get(entity_id)
            owners[entity_id] = (
                entry.unique_id.removesuffix("_last_upload")
                if entry is not None
                and entry.platform == DOMAIN
                and entry.unique_id.endswith("_last_upload")
                else None
            )
        new_state = event.data["new_state"]
        if (wifi_sn := owners[entity_id]) is None or new_state is None:
            return
        if new_state.state in (STATE_UNKNOWN, STATE_UNAVAILABLE):
            return
        if (value := dt_util.parse_datetime(new_state.state)) is None:
            return
        shown[wifi_sn].append((new_state.last_changed_timestamp, value.timestamp()))

    @callback
    def is_last_upload(data: EventStateChangedData) -> bool:
        return data["entity_id"].endswith("_last_upload")

    hass.bus.async_listen(EVENT_STATE_CHANGED, changed, event_filter=is_last_upload)


@dataclass(frozen=True)
class Window:
    """The measured time: [start, end), and its nights by two suns."""

    start: float
    end: float
    nights: list[tuple[float, float]]
    """Between Home Assistant's sunset and sunrise (what the metric uses)."""
    plant_nights: list[tuple[float, float]]
    """Between the simulator's sunset and sunrise (sun's centre at the horizon)."""


def _measure(
    cloud: SunvecCloud,
    *,
    calls: CallLog,
    shown: dict[str, list[tuple[float, float]]],
    serials: list[str],
    window: Window,
    name: str,
) -> dict[str, Any]:
    """Compute the metrics of the window of the run ``name``."""
    start, end, nights = window.start, window.end, window.nights
    staleness: list[float] = []
    day_records = missed = unmatched = pending = 0
    rows: list[tuple[str, float, float | None]] = []
    end_time = datetime.fromtimestamp(end, dt_util.UTC)
    for wifi_sn in serials:
        uploads = cloud.inverter(wifi_sn).uploads(end_time)
        available = [upload.available_at.timestamp() for upload in uploads]
        first_shown: dict[float, float] = {}
        for at, upload_ts in shown[wifi_sn]:
            first_shown.setdefault(upload_ts, at)
        known = set(available)
        unmatched += sum(
            1
            for upload_ts, at in first_shown.items()
            if upload_ts not in known and start <= at < end
        )
        for index, at in enumerate(available):
            if not start <= at < end:
                continue
            seen = first_shown.get(at)
            rows.append((wifi_sn, at, seen))
            if seen is not None:
                staleness.append(seen - at)
                day_records += not _inside(at, nights)
            elif index + 1 < len(available):
                missed += 1
            else:
                pending += 1
    in_window = [call for call in calls.calls if start <= call.at < end]
    night_hours = sum(b - a for a, b in nights) / 3600.0
    night_calls = sum(1 for call in in_window if _inside(call.at, nights))
    day_calls = len(in_window) - night_calls
    plant_night_hours = sum(b - a for a, b in window.plant_nights) / 3600.0
    plant_night_calls = sum(
        1 for call in in_window if _inside(call.at, window.plant_nights)
    )
    new_records = len(staleness)
    _dump(calls, rows, start, name)
    return {
        "calls": len(in_window),
        "new_records": new_records,
        "calls_per_new_record": rounded(len(in_window) / new_records, 3)
        if new_records
        else None,
        "staleness_median_s": rounded(percentile(staleness, 0.5), 1),
        "staleness_p95_s": rounded(percentile(staleness, 0.95), 1),
        "missed_records": missed,
        "night_calls_per_hour": rounded(night_calls / len(serials) / night_hours, 2)
        if night_hours
        else None,
        "limit_violations": cloud.requests_rate_limited.get(TOKEN, 0),
        "extra": {
            # Calls and records between sunrise and sunset only.
            "day_calls": day_calls,
            "day_records": day_records,
            "day_calls_per_record": rounded(day_calls / day_records, 3)
            if day_records
            else None,
            "night_calls": night_calls,
            "night_hours": round(night_hours, 2),
            # The same with the simulator's sun (10 minutes shorter nights).
            "plant_night_calls_per_hour": rounded(
                plant_night_calls / len(serials) / plant_night_hours, 2
            )
            if plant_night_hours
            else None,
            "empty_calls": _empty_calls(calls.calls, start, end),
            "staleness_max_s": rounded(max(staleness), 1) if staleness else None,
            "uploads_in_window": new_records + missed + pending,
            "unmatched_states": unmatched,
            "calls_total": len(calls.calls),
            "cloud_requests_total": cloud.requests_served.get(TOKEN, 0),
            "refused_in_window": sum(
                1 for call in in_window if call.outcome == "rate_limited"
            ),
            "errors_in_window": sum(1 for call in in_window if call.outcome == "error"),
        },
    }


def _empty_calls(calls: list[Call], start: float, end: float) -> int:
    """Return the successful calls in [start, end) that brought no new record."""
    seen: set[tuple[str, datetime | None]] = set()
    empty = 0
    for call in sorted(calls, key=lambda call: call.at):
        if call.outcome != "ok":
            continue
        key = (call.wifi_sn, call.upload_time)
        empty += key in seen and start <= call.at < end
        seen.add(key)
    return empty


def _dump(
    calls: CallLog,
    rows: list[tuple[str, float, float | None]],
    start: float,
    name: str,
) -> None:
    """Write the calls and uploads of the run as CSV files, if asked (--dump)."""
    if not (directory := option("dump", "")):
        return
    base = Path(directory) / name
    zone = dt_util.get_default_time_zone()

    def local(at: float) -> str:
        return datetime.fromtimestamp(at, zone).strftime("%H:%M:%S.%f")[:-3]

    with base.with_suffix(".calls.csv").open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(("local_time", "t_s", "wifi_sn", "outcome", "upload_time"))
        writer.writerows(
            (local(c.at), round(c.at - start, 3), c.wifi_sn, c.outcome, c.upload_time)
            for c in sorted(calls.calls, key=lambda call: call.at)
        )
    with base.with_suffix(".uploads.csv").open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(("wifi_sn", "available_local", "t_s", "staleness_s"))
        writer.writerows(
            (
                wifi_sn,
                local(at),
                round(at - start, 3),
                None if seen is None else round(seen - at, 3),
            )
            for wifi_sn, at, seen in sorted(rows)
        )


# --- Command line -----------------------------------------------------------------------

COLUMNS = (
    Column("policy", "policy", 15),
    Column("inverters", "N", 3),
    Column("simulated_hours", "hours", 5, digits=1),
    Column("calls", "calls", 6),
    Column("new_records", "records", 7),
    Column("calls_per_new_record", "calls/rec", 9, digits=3),
    Column("staleness_median_s", "stale_med", 9, digits=1),
    Column("staleness_p95_s", "stale_p95", 9, digits=1),
    Column("missed_records", "missed", 6),
    Column("night_calls_per_hour", "night/h", 7),
    Column("limit_violations", "refused", 7),
    Column("day_calls_per_record", "day_c/rec", 9, digits=3),
    Column("wall_s", "wall_s", 6, digits=1),
)


def _order(result: dict[str, Any]) -> tuple[int, int]:
    return POLICIES.index(result["policy"]), result["inverters"]


def _targets(results: list[dict[str, Any]]) -> Iterator[str]:
    """Yield a line per target of ``adaptive`` that was missed."""
    for result in results:
        if result["policy"] != "adaptive":
            continue
        count = result["inverters"]
        checks: list[tuple[str, Any, float]] = []
        if count == 1:
            checks += [
                ("calls_per_new_record", result["calls_per_new_record"], 1.10),
                ("staleness_median_s", result["staleness_median_s"], 10.0),
                ("staleness_p95_s", result["staleness_p95_s"], 40.0),
                ("missed_records", result["missed_records"], 0),
                ("night_calls_per_hour", result["night_calls_per_hour"], 4.0),
            ]
        if count == 34:
            checks.append(("staleness_median_s", result["staleness_median_s"], 30.0))
        if count <= 50:
            checks.append(("limit_violations", result["limit_violations"], 0))
        for key, value, limit in checks:
            if value is None or value > limit:
                yield f"adaptive N={count}: {key} = {value} (target <= {limit})"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table (and JSON lines with --json)."""
    parser = argparse.ArgumentParser(
        prog="scripts/bench_polling",
        description="Polling policies against the simulated cloud, on a virtual clock.",
    )
    parser.add_argument(
        "--inverters",
        default=",".join(map(str, INVERTER_COUNTS)),
        help="inverter counts, comma-separated (default: 1,10,34,50)",
    )
    parser.add_argument(
        "--policies",
        default=",".join(POLICIES),
        help=f"policies, comma-separated (default: {','.join(POLICIES)})",
    )
    parser.add_argument(
        "--dump",
        metavar="DIR",
        default="",
        help="write each run's calls and uploads as CSV files into DIR",
    )
    add_common_arguments(parser, parallel=True)
    args = parser.parse_args(argv)
    if unknown := set(args.policies.split(",")) - set(POLICIES):
        parser.error(f"unknown policies: {', '.join(sorted(unknown))}")
    if args.dump:
        Path(args.dump).mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    results = run_benchmark(
        "benchmarks/bench_polling.py",
        {
            "policies": args.policies,
            "inverters": args.inverters,
            "hours": str(args.hours),
            "warmup_hours": str(args.warmup_hours),
            "day": args.day.isoformat(),
            "seed": str(args.seed),
            "dump": str(Path(args.dump).resolve()) if args.dump else "",
        },
        workers=args.workers,
        verbose=args.verbose,
    )
    results.sort(key=_order)
    wall = time.monotonic() - started
    table = sys.stderr if args.json else sys.stdout
    rows = [result | result["extra"] for result in results]
    print(format_table(rows, COLUMNS), file=table)
    print(
        "stale_* = s from upload available to last_upload sensor; night/h = calls "
        "per inverter per hour between sunset and sunrise (Home Assistant's sun); "
        "refused = rate-limit refusals (whole run); day_c/rec = calls per record "
        "between sunrise and sunset",
        file=table,
    )
    for miss in _targets(results):
        print(f"TARGET MISSED: {miss}", file=table)
    for result in results:
        extra = result["extra"]
        if (
            extra["unmatched_states"]
            or extra["calls_total"] != extra["cloud_requests_total"]
        ):
            print(
                f"WARNING {result['policy']} N={result['inverters']}: "
                f"{extra['unmatched_states']} upload times shown that the simulator "
                f"never served; {extra['calls_total']} calls logged, "
                f"{extra['cloud_requests_total']} served",
                file=table,
            )
    print(f"total wall time: {wall:.1f} s", file=table)
    if args.json:
        for result in results:
            sys.stdout.write(
                json.dumps({key: result[key] for key in RESULT_KEYS}) + "\n"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
