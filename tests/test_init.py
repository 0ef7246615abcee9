"""Tests of setting up, retrying, re-authenticating and unloading an entry."""

from __future__ import annotations

from unittest.mock import AsyncMock

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sunvec.api import (
    SunvecAuthenticationError,
    SunvecConnectionError,
    SunvecRateLimitError,
)
from custom_components.sunvec.const import DOMAIN


async def test_setup_and_unload(
    hass: HomeAssistant,
    mock_get_realtime: AsyncMock,
    init_integration: MockConfigEntry,
) -> None:
    """An entry sets up with one cloud call and unloads cleanly."""
    mock_config_entry = init_integration
    assert mock_config_entry.state is ConfigEntryState.LOADED
    assert mock_get_realtime.await_count == 1
    assert hass.states.get("sensor.sunvec_h34a00016008_ac_power").state == "152.0"

    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.NOT_LOADED
    assert hass.states.get("sensor.sunvec_h34a00016008_ac_power").state == "unavailable"


@pytest.mark.parametrize(
    "error",
    [
        SunvecConnectionError("down"),
        SunvecRateLimitError("current minute > threshold", 104),
    ],
)
async def test_setup_retries_when_the_cloud_is_unreachable(
    hass: HomeAssistant,
    mock_get_realtime: AsyncMock,
    mock_config_entry: MockConfigEntry,
    error: Exception,
) -> None:
    """A cloud that cannot be reached at start-up gives a retried entry, not a failed one."""
    mock_get_realtime.side_effect = error
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY


async def test_revoked_token_at_setup_starts_reauth(
    hass: HomeAssistant,
    mock_get_realtime: AsyncMock,
    mock_config_entry: MockConfigEntry,
) -> None:
    """A token refused at set-up starts the reauth flow."""
    mock_get_realtime.side_effect = SunvecAuthenticationError("refused", 1001)
    mock_config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]
    assert flows[0]["context"]["entry_id"] == mock_config_entry.entry_id
