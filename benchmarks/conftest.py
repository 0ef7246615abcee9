"""Fixtures of the benchmarks (run only through scripts/bench_*)."""

from __future__ import annotations

import asyncio

import pytest


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load the integration from custom_components/."""


@pytest.fixture(autouse=True)
def enable_event_loop_debug(event_loop: asyncio.AbstractEventLoop) -> None:
    """Keep the event loop out of debug mode (overrides the test harness' fixture).

    Debug mode only slows a benchmark down, and every jump of the virtual clock
    would look like a slow callback to it.
    """
    event_loop.set_debug(False)
