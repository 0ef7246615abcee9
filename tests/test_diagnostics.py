"""Tests of the diagnostics download."""

from __future__ import annotations

import json

from homeassistant.core import HomeAssistant
from homeassistant.helpers.json import json_dumps
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

from custom_components.sunvec.diagnostics import async_get_config_entry_diagnostics

from .conftest import INVERTER_SN, TOKEN, WIFI_SN


async def test_diagnostics_are_redacted(
    hass: HomeAssistant, init_integration: MockConfigEntry, snapshot: SnapshotAssertion
) -> None:
    """Diagnostics show the entry, the last reply and the scheduling, no secret.

    Called directly and serialised as the download does (the download's route
    cannot run under the frozen clock).
    """
    text = json_dumps(await async_get_config_entry_diagnostics(hass, init_integration))
    assert json.loads(text) == snapshot
    for secret in (TOKEN, WIFI_SN, INVERTER_SN):
        assert secret not in text
