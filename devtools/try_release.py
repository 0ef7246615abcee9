"""Try the integration end to end on the installed Home Assistant, without a test harness.

Started by ``scripts/try-release VERSION``, for a release that
pytest-homeassistant-custom-component does not support yet. What a user does, as
``scripts/develop`` does it, in a throw-away configuration on free loopback ports:
start the simulator and ``hass``, onboard, add the hybrid inverter through the
config flow, wait for its sensors to show numbers, point the energy dashboard at
them (in this release's format) and ask ``energy/validate``; restart ``hass`` and
read the states again (what the entities restore). Then it reads what
Home Assistant logged: any warning or error about the integration, a traceback
through its code, or a Python deprecation warning raised in it (``hass`` runs with
deprecation warnings shown) fails the run. Prints a report; exits 1 on a finding.
"""

# ruff: noqa: T201 (a command-line program: it reports with print)

from __future__ import annotations

import asyncio
from pathlib import Path
import re
import shutil
import sys
import tempfile
from typing import Any

import aiohttp

from devtools.energy_dashboard import energy_preferences, no_issues
from devtools.home_assistant import HomeAssistantClient
from devtools.processes import (
    LOOPBACK,
    REPO,
    free_port,
    prepare_config,
    start_home_assistant,
    start_simulator,
    stop,
    wait_for_port,
)
from devtools.sunvec_demo import (
    DEMO_OWNER,
    DOMAIN,
    energy_sensors,
    inverter_entities,
    set_up_demo,
    wait_for_numbers,
)

START_TIMEOUT = 120.0
STEP_TIMEOUT = 60.0
STATISTICS_NOW = REPO / "tests" / "e2e" / "statistics_now"
# A log record's first line: "2026-11-05 10:00:00.123 WARNING (MainThread) [name] ..."
RECORD = re.compile(
    r"^\d{4}-\d\d-\d\d \S+ (?P<level>[A-Z]+) \(\S+\) \[(?P<name>[^]]+)\]"
)
# Said of every custom integration at every start.
NOT_TESTED = "We found a custom integration sunvec which has not been tested"


def main() -> int:
    """Run it; print what was seen; return 1 if anything is wrong."""
    work_dir = Path(tempfile.mkdtemp(prefix="sunvec-release-"))
    try:
        return _run(work_dir)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def _run(work_dir: Path) -> int:
    config_dir = work_dir / "config"
    simulator_port, http_port = free_port(), free_port()
    url = f"http://{LOOPBACK}:{http_port}"
    api_address = f"http://{LOOPBACK}:{simulator_port}"
    prepare_config(
        config_dir,
        server_port=http_port,
        extra_components={"statistics_now": STATISTICS_NOW},
    )
    console = work_dir / "hass.out"
    seen: list[str] = []
    findings: list[str] = []
    logs: list[str] = []
    with (work_dir / "simulator.out").open("wb") as output:
        simulator = start_simulator(simulator_port, output=output)
    try:
        wait_for_port(simulator_port, simulator, timeout=30)
        # Set up as a user does, then restart: what the entities restore.
        for step in (_set_up, _after_a_restart):
            with console.open("ab") as output:
                home_assistant = start_home_assistant(
                    config_dir,
                    output=output,
                    environment={"PYTHONWARNINGS": "default::DeprecationWarning"},
                )
            try:
                wait_for_port(http_port, home_assistant, timeout=START_TIMEOUT)
                step_seen, step_problems = asyncio.run(step(url, api_address))
                seen += step_seen
                findings += step_problems
            finally:
                stop(home_assistant)
            # Read before the next start, which moves it to home-assistant.log.1.
            logs.append((config_dir / "home-assistant.log").read_text(errors="replace"))
    finally:
        stop(simulator)
    log = "\n".join(logs)
    findings += _findings(log, console.read_text(errors="replace"))
    others = [
        first
        for first in (record.splitlines()[0] for record in _records(log))
        if (match := RECORD.match(first))
        and match["level"] in ("WARNING", "ERROR", "CRITICAL")
        and first not in findings
    ]
    print(
        "\n".join(
            [
                *seen,
                "",
                "Other warnings and errors in Home Assistant's log (for information):",
                *(others or ["none"]),
                "",
                "Findings:",
                *(findings or ["none"]),
            ]
        )
    )
    return 1 if findings else 0


async def _set_up(url: str, api_address: str) -> tuple[list[str], list[str]]:
    """Do what a user does; return what was seen and what was wrong, line by line."""
    async with aiohttp.ClientSession() as session:
        client = HomeAssistantClient(session, url)
        async with asyncio.timeout(START_TIMEOUT):
            await client.wait_until_up()
        async with asyncio.timeout(STEP_TIMEOUT):
            done = await set_up_demo(client, api_address)
            version = await client.version()
            states, entities, entries = await _inverter(client)
            preferences = energy_preferences(
                energy_sensors(await inverter_entities(client, enabled_only=True)),
                version,
            )
            await client.call_service("statistics_now", "compile")
            validation = await client.websocket_command("energy/validate")
    seen = [
        f"Home Assistant {version}, logged in as {DEMO_OWNER.username}: {'; '.join(done)}.",
        *_describe(states, entities, entries),
        f"energy/validate: {validation}",
    ]
    problems = _problems(states, entries)
    if validation != no_issues(preferences, validation):
        problems.append("energy/validate reports issues")
    return seen, problems


async def _after_a_restart(url: str, api_address: str) -> tuple[list[str], list[str]]:
    """Log in again after a restart; return what was seen and what was wrong."""
    async with aiohttp.ClientSession() as session:
        client = HomeAssistantClient(session, url)
        async with asyncio.timeout(START_TIMEOUT):
            await client.wait_until_up()
        async with asyncio.timeout(STEP_TIMEOUT):
            await client.login(DEMO_OWNER.username, DEMO_OWNER.password)
            await client.wait_until_running()
            states, entities, entries = await _inverter(client)
    seen = ["", "After a restart:", *_describe(states, entities, entries)]
    return seen, _problems(states, entries)


async def _inverter(
    client: HomeAssistantClient,
) -> tuple[dict[str, str], dict[str, str], list[dict[str, Any]]]:
    """Return the inverter's entity states (once the energy sensors have numbers)."""
    entities = await inverter_entities(client)
    sensors = energy_sensors(await inverter_entities(client, enabled_only=True))
    await wait_for_numbers(client, [sensors.grid_import, sensors.solar])
    states = {
        state["entity_id"]: state["state"]
        for state in await client.states()
        if state["entity_id"] in entities.values()
    }
    return states, entities, await client.config_entries(DOMAIN)


def _describe(
    states: dict[str, str], entities: dict[str, str], entries: list[dict[str, Any]]
) -> list[str]:
    return [
        f"Config entries of {DOMAIN}: "
        + ", ".join(f"{entry['title']} ({entry['state']})" for entry in entries),
        f"{len(states)} of its {len(entities)} entities have a state:",
        *(f"  {entity_id} = {states[entity_id]}" for entity_id in sorted(states)),
    ]


def _problems(states: dict[str, str], entries: list[dict[str, Any]]) -> list[str]:
    problems = [
        f"{entity_id} has no value ({state})"
        for entity_id, state in sorted(states.items())
        if state in ("unknown", "unavailable")
    ]
    if [entry["state"] for entry in entries] != ["loaded"]:
        problems.append("the config entry is not loaded")
    return problems


def _findings(log: str, console: str) -> list[str]:
    """Return what Home Assistant logged against the integration, one line each."""
    findings = []
    for record in _records(log):
        first = record.splitlines()[0]
        match = RECORD.match(first)
        if match is None or NOT_TESTED in first:
            continue
        about_us = match["name"].startswith(f"custom_components.{DOMAIN}") or (
            DOMAIN in first
        )
        through_us = "Traceback" in record and f"custom_components/{DOMAIN}/" in record
        if match["level"] in ("WARNING", "ERROR", "CRITICAL") and (
            about_us or through_us
        ):
            findings.append(first)
        elif through_us:
            findings.append(f"a traceback through the integration: {first}")
    # Python's warnings that did not go to the log (as py.warnings) are printed.
    findings += [
        line
        for line in console.splitlines()
        if "Warning:" in line
        and f"custom_components/{DOMAIN}/" in line
        and not RECORD.match(line)
    ]
    return list(dict.fromkeys(findings))


def _records(log: str) -> list[str]:
    """Split a Home Assistant log into records (a first line and what follows it)."""
    records: list[str] = []
    for line in log.splitlines():
        if RECORD.match(line) or not records:
            records.append(line)
        else:
            records[-1] += "\n" + line
    return records


if __name__ == "__main__":
    sys.exit(main())
