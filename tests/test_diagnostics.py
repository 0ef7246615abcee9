"""Tests of the diagnostics download."""

from __future__ import annotations

import json
from unittest.mock import AsyncMock

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from .conftest import INVERTER_SN, TOKEN, WIFI_SN


async def test_diagnostics_are_redacted(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    mock_get_realtime: AsyncMock,
    mock_config_entry: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    """Diagnostics show the entry and last reply without token or serials."""
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()

    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, mock_config_entry
    )
    assert diagnostics == snapshot(exclude=props("received_at", "polling", "budget"))
    assert diagnostics["polling"]["cadence"] == 300
    # A fresh policy retries missing records until retries prove useless.
    assert diagnostics["polling"]["retries_missing_records"] is True
    assert diagnostics["polling"]["retries_found_nothing"] == 0
    assert diagnostics["budget"]["inverters"] == 1
    text = json.dumps(diagnostics)
    for secret in (TOKEN, WIFI_SN, INVERTER_SN):
        assert secret not in text
