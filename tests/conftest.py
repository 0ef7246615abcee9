"""Fixtures shared by every test."""

from __future__ import annotations

from collections.abc import Generator
import json
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, patch

from homeassistant.const import CONF_TOKEN
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion

from custom_components.sunvec.const import CONF_API_ADDRESS, CONF_WIFI_SN, DOMAIN
from custom_components.sunvec.models import RealtimeData


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load the integration from custom_components/."""


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Use Home Assistant's snapshot extension (syrupy's own fixture shadows phcc's)."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


API_ADDRESS = "https://api.sunvec-x.com"
TOKEN = "tok-1234567890abcdef"
WIFI_SN = "SUT1234VB1"
INVERTER_SN = "H34A00016008"
FIXTURES = Path(__file__).parent / "fixtures"
# Two minutes after the example's uploadTime (09:21:43) in the tests' zone, US/Pacific.
EXAMPLE_NOW = "2024-08-20T16:23:43+00:00"


def example_record(**changes: Any) -> RealtimeData:
    """Return the vendor's example record, with a real serial and any changes."""
    result = json.loads((FIXTURES / "realtime_example.json").read_text())["result"]
    result |= {"inverterSN": INVERTER_SN, "sn": WIFI_SN}
    return RealtimeData.from_dict(result | changes)


@pytest.fixture
def mock_config_entry() -> MockConfigEntry:
    """A configured inverter."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=INVERTER_SN,
        unique_id=WIFI_SN,
        data={CONF_API_ADDRESS: API_ADDRESS, CONF_TOKEN: TOKEN, CONF_WIFI_SN: WIFI_SN},
    )


@pytest.fixture
def mock_setup_entry() -> Generator[AsyncMock]:
    """Keep the config flow tests from setting up the entry they create."""
    with patch(
        "custom_components.sunvec.async_setup_entry", return_value=True
    ) as mock_setup:
        yield mock_setup


@pytest.fixture
def mock_get_realtime() -> Generator[AsyncMock]:
    """Replace the cloud call of the client (the library boundary) everywhere."""
    with patch(
        "custom_components.sunvec.api.SunvecClient.get_realtime",
        autospec=True,
        return_value=example_record(),
    ) as get_realtime:
        yield get_realtime
