"""A test-only integration: compile the recorder's statistics now.

Home Assistant compiles statistics every five minutes; until then the energy dashboard
reports every new sensor as "statistics not defined". The end-to-end test loads this
into its throw-away instance to run that same compile at once (as Home Assistant's own
tests do), so that it can expect no issue at all. It never ships.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from homeassistant.components.recorder import Recorder, get_instance, statistics
from homeassistant.components.recorder.tasks import StatisticsTask, SynchronizeTask
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.helpers.typing import ConfigType
from homeassistant.util import dt as dt_util

DOMAIN = "statistics_now"


async def _synchronize(hass: HomeAssistant, recorder: Recorder) -> None:
    """Wait until the recorder has run every task queued so far."""
    # SynchronizeTask sets a future in 2026.10, an asyncio.Event in 2025.4.
    if "future" in {field.name for field in dataclasses.fields(SynchronizeTask)}:
        future: asyncio.Future[None] = hass.loop.create_future()
        recorder.queue_task(SynchronizeTask(future))
        await future
    else:
        event = asyncio.Event()
        recorder.queue_task(SynchronizeTask(event))
        await event.wait()


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the compile action."""

    async def compile_now(call: ServiceCall) -> None:
        recorder = get_instance(hass)
        recorder._async_commit(dt_util.utcnow())  # the states recorded so far
        # The five minutes in progress (get_start_time gives the ones before).
        start = statistics.get_start_time() + timedelta(minutes=5)
        recorder.queue_task(StatisticsTask(start, False))
        # The recorder runs its tasks in order: this one ends after the compile.
        await _synchronize(hass, recorder)

    hass.services.async_register(DOMAIN, "compile", compile_now)
    return True
