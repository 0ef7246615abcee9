"""Start and stop the simulator and Home Assistant as child processes.

Each child runs in its own process group, so that a Ctrl-C in the terminal reaches
only the parent, which then stops the children in order, and so that stopping a
child also stops anything it started.
"""

from __future__ import annotations

from collections.abc import Mapping
import contextlib
import json
import os
from pathlib import Path
import re
import signal
import socket
import subprocess
import sys
import time
from typing import IO

REPO = Path(__file__).resolve().parent.parent
CONFIG_TEMPLATE = REPO / "config" / "configuration.yaml"
LOOPBACK = "127.0.0.1"
DEFAULT_HTTP_PORT = 8123

type Output = int | IO[bytes] | None


def free_port() -> int:
    """Return a TCP port on the loopback address that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


def is_listening(port: int) -> bool:
    """Return whether something accepts connections on ``port`` of the loopback address."""
    try:
        with socket.create_connection((LOOPBACK, port), timeout=1):
            return True
    except OSError:
        return False


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Wait until ``process`` accepts connections on ``port`` of the loopback address."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        if is_listening(port):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"nothing listens on {LOOPBACK}:{port} after {timeout} s"
            )
        time.sleep(0.1)


def _child_environment() -> dict[str, str]:
    """Return our environment without pytest-cov's variables.

    With them the child writes statement-only coverage data, which cannot be
    combined with the tests' branch data.
    """
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("COV_CORE_")
    }


def start_simulator(
    port: int,
    *,
    speed: float = 1.0,
    seed: int | None = None,
    output: Output = None,
) -> subprocess.Popen[bytes]:
    """Start the simulated Sunvec cloud on the loopback address; return at once."""
    command = [
        sys.executable,
        "-m",
        "sunvec_simulator",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--speed",
        str(speed),
    ]
    if seed is not None:
        command += ["--seed", str(seed)]
    return subprocess.Popen(  # noqa: S603 (our own command line)
        command,
        cwd=REPO,
        env=_child_environment(),
        stdout=output,
        stderr=output,
        start_new_session=True,
    )


def prepare_config(
    config_dir: Path,
    *,
    server_port: int | None = None,
    location: Mapping[str, str] | None = None,
    extra_components: Mapping[str, Path] | None = None,
) -> None:
    """Make ``config_dir`` a Home Assistant configuration that finds the integration.

    Copies ``config/configuration.yaml`` unless ``config_dir`` is ``config/``
    itself, links ``custom_components`` to the repository's, and sets the HTTP
    port when ``server_port`` is given, and the ``homeassistant:`` keys of
    ``location`` (``time_zone``, ``latitude``…). ``extra_components`` (name → folder) are
    linked beside the integration and set up from the configuration (tests only).
    Before the first start, marks onboarding's core configuration step as done.
    """
    config_dir.mkdir(parents=True, exist_ok=True)
    _skip_core_config_step(config_dir)
    configuration = config_dir / "configuration.yaml"
    if configuration.resolve() != CONFIG_TEMPLATE:
        text = CONFIG_TEMPLATE.read_text()
        if server_port is not None:
            default = f"server_port: {DEFAULT_HTTP_PORT}\n"
            if default not in text:
                raise ValueError(f"{CONFIG_TEMPLATE} does not set {default.strip()}")
            text = text.replace(default, f"server_port: {server_port}\n")
        for key, value in (location or {}).items():
            text, found = re.subn(
                rf"^(  {key}:) .*$", rf"\1 {value}", text, flags=re.MULTILINE
            )
            if not found:
                raise ValueError(f"{CONFIG_TEMPLATE} does not set {key}")
        text += "".join(f"\n{name}:\n" for name in extra_components or {})
        configuration.write_text(text)
    link = config_dir / "custom_components"
    if not extra_components:
        if not link.is_symlink():
            link.symlink_to(REPO / "custom_components", target_is_directory=True)
        return
    link.mkdir(exist_ok=True)
    sources = {"sunvec": REPO / "custom_components" / "sunvec", **extra_components}
    for name, source in sources.items():
        (link / name).symlink_to(source, target_is_directory=True)


def _skip_core_config_step(config_dir: Path) -> None:
    """Mark onboarding's core configuration step done, unless onboarding has begun.

    ``configuration.yaml`` sets the location, units and currency, which is what
    that step asks for. Finishing the step also starts the config flows of
    Google Translate, Met.no, Radio Browser and a shopping list, which offline,
    without their requirements (``--skip-pip``), fail with a traceback each.
    The store is written in the format of the installed Home Assistant.
    """
    store = config_dir / ".storage" / "onboarding"
    if store.exists():
        return
    # Imported only for a first start: importing it takes seconds.
    from homeassistant.components import onboarding

    store.parent.mkdir(exist_ok=True)
    store.write_text(
        json.dumps(
            {
                "version": onboarding.STORAGE_VERSION,
                "minor_version": 1,
                "key": store.name,
                "data": {"done": [onboarding.STEP_CORE_CONFIG]},
            },
            indent=2,
        )
    )


def start_home_assistant(
    config_dir: Path,
    *,
    output: Output = None,
    environment: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``hass`` offline (no pip) on ``config_dir``; return at once.

    ``environment`` adds variables to the child's environment.
    """
    return subprocess.Popen(  # noqa: S603 (our own command line)
        [
            sys.executable,
            "-m",
            "homeassistant",
            "--config",
            str(config_dir),
            "--skip-pip",
        ],
        # Not the repository, so that the integration is found through the link.
        cwd=config_dir,
        env=_child_environment() | dict(environment or {}),
        stdout=output,
        stderr=output,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """Stop a child and its process group: SIGTERM, then SIGKILL after ``timeout``.

    Returns the child's exit code.
    """
    if process.poll() is not None:
        return process.returncode
    _signal_group(process, signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        _signal_group(process, signal.SIGKILL)
        return process.wait()


def _signal_group(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)
