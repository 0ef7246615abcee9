"""Fixtures that start the simulator and a real Home Assistant as child processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
import shutil
import tempfile

import pytest

from devtools.processes import (
    LOOPBACK,
    free_port,
    prepare_config,
    start_home_assistant,
    start_simulator,
    stop,
    wait_for_port,
)

LOG_LINES_ON_FAILURE = 80
# The first start creates the database: generous for a slow CI machine (it takes
# about 5 s on two cores), and with the test's own steps within pytest's timeout.
START_TIMEOUT = 60


@pytest.fixture
def auto_enable_custom_integrations() -> None:
    """Start no Home Assistant in the test process: these tests run a real one."""


@pytest.fixture
def work_dir() -> Iterator[Path]:
    """A fresh directory for the processes' files, removed whatever happens."""
    path = Path(tempfile.mkdtemp(prefix="sunvec-e2e-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def simulator_address(socket_enabled: None, work_dir: Path) -> Iterator[str]:
    """Run the simulated cloud on a free loopback port; return its API address."""
    port = free_port()
    log = work_dir / "simulator.log"
    with log.open("wb") as output:
        process = start_simulator(port, output=output)
    try:
        wait_for_port(port, process, timeout=30)
        yield f"http://{LOOPBACK}:{port}"
    finally:
        stop(process, timeout=10)
        _print_tail(log)


@pytest.fixture
def home_assistant_url(socket_enabled: None, work_dir: Path) -> Iterator[str]:
    """Run ``hass`` on a fresh copy of config/ and a free loopback port; return its URL.

    Stops it by its process id (SIGTERM, then SIGKILL) whatever happens, and prints
    the end of its log, which pytest shows when the test fails.
    """
    port = free_port()
    config_dir = work_dir / "config"
    prepare_config(
        config_dir,
        server_port=port,
        extra_components={"statistics_now": Path(__file__).parent / "statistics_now"},
    )
    console = work_dir / "hass.out"
    with console.open("wb") as output:
        process = start_home_assistant(config_dir, output=output)
    try:
        wait_for_port(port, process, timeout=START_TIMEOUT)
        yield f"http://{LOOPBACK}:{port}"
    finally:
        stop(process, timeout=30)
        # Everything Home Assistant logs, and what it printed before logging started.
        _print_tail(console)


def _print_tail(path: Path) -> None:
    if path.exists():
        lines = path.read_text(errors="replace").splitlines()[-LOG_LINES_ON_FAILURE:]
        # pytest shows what a fixture prints only when the test fails.
        print(f"--- end of {path.name}", *lines, sep="\n")  # noqa: T201
