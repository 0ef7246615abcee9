"""Fixtures shared by every test."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
import json
import logging
from pathlib import Path
import traceback
from typing import Any
from unittest.mock import AsyncMock, PropertyMock, patch

from aiohttp.test_utils import TestServer
from freezegun.api import FrozenDateTimeFactory
import homeassistant
from homeassistant.const import CONF_TOKEN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion

import custom_components.sunvec
from custom_components.sunvec.const import CONF_API_ADDRESS, CONF_WIFI_SN, DOMAIN
from custom_components.sunvec.models import RealtimeData
from sunvec_simulator import DEMO_TOKEN, SunvecCloud, create_app, demo_cloud

from .field_cloud import FieldCloud, serve_field_cloud
from .portable_snapshots import PortableSnapshotExtension

INTEGRATION_LOGGER = "custom_components.sunvec"
INTEGRATION_CODE = Path(custom_components.sunvec.__file__).parent
HOME_ASSISTANT_CODE = Path(homeassistant.__file__).parent


def assert_no_traceback_logged(caplog: pytest.LogCaptureFixture) -> None:
    """Fail if the integration logged a traceback.

    That is: a record with a traceback on the integration's logger or its children,
    at any level, or one at warning or above on any logger whose exception went
    through the integration's code (one that escaped it, which Home Assistant
    logs). Not counted: the traceback that Home Assistant's own code adds at debug
    level after the error line of a failed update ("Full error", as 2026.10 does),
    which it writes on the coordinator's logger, the integration's; nor other
    libraries' own troubles (aiohttp's access log under a frozen clock).
    """
    tracebacks = [
        record
        for record in caplog.records
        if _has_traceback(record)
        and (
            (_on_integration_logger(record) and not _home_assistant_debug(record))
            or (record.levelno >= logging.WARNING and _went_through_integration(record))
        )
    ]
    assert not tracebacks, "\n".join(
        f"{record.name} {record.levelname} {record.pathname}:{record.lineno}: "
        f"{record.getMessage()}"
        for record in tracebacks
    )


def _has_traceback(record: logging.LogRecord) -> bool:
    return (
        (record.exc_info is not None and record.exc_info[0] is not None)
        or bool(record.exc_text or record.stack_info)
        or "Traceback (most recent call last)" in record.getMessage()
    )


def _on_integration_logger(record: logging.LogRecord) -> bool:
    return record.name == INTEGRATION_LOGGER or record.name.startswith(
        f"{INTEGRATION_LOGGER}."
    )


def _home_assistant_debug(record: logging.LogRecord) -> bool:
    return record.levelno <= logging.DEBUG and Path(record.pathname).is_relative_to(
        HOME_ASSISTANT_CODE
    )


def _went_through_integration(record: logging.LogRecord) -> bool:
    error = record.exc_info[1] if record.exc_info else None
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        for frame, _ in traceback.walk_tb(error.__traceback__):
            if Path(frame.f_code.co_filename).is_relative_to(INTEGRATION_CODE):
                return True
        error = error.__cause__ or error.__context__
    return False


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load the integration from custom_components/."""


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Home Assistant's snapshot extension, in the form every release shares.

    (syrupy's own fixture shadows phcc's.)
    """
    return snapshot.use_extension(PortableSnapshotExtension)


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
def entity_registry_enabled_by_default() -> Generator[None]:
    """Create every entity enabled, also those disabled by default."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        return_value=True,
        new_callable=PropertyMock,
    ):
        yield


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
async def init_integration(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_get_realtime: AsyncMock,
    mock_config_entry: MockConfigEntry,
) -> MockConfigEntry:
    """The mocked inverter set up, two minutes after the example's upload."""
    freezer.move_to(EXAMPLE_NOW)
    mock_config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    return mock_config_entry


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


# A summer day at the demo plants (Amsterdam), 12:00 local time.
SIMULATED_NOON = "2026-06-21T10:00:00+00:00"


@pytest.fixture
async def hass_at_plant(hass: HomeAssistant) -> HomeAssistant:
    """Home Assistant located where the simulator's demo plants are."""
    await hass.config.async_set_time_zone("Europe/Amsterdam")
    hass.config.latitude = 52.37
    hass.config.longitude = 4.90
    return hass


@pytest.fixture
def cloud(freezer: FrozenDateTimeFactory) -> SunvecCloud:
    """The simulated cloud, running on Home Assistant's (frozen) clock."""
    freezer.move_to(SIMULATED_NOON)
    return demo_cloud(clock=dt_util.utcnow)


@pytest.fixture
async def cloud_url(socket_enabled: None, cloud: SunvecCloud) -> AsyncGenerator[str]:
    """Serve the simulated cloud on loopback; return its API address."""
    server = TestServer(create_app(cloud), host="127.0.0.1")
    # No access log: aiohttp's fails under a frozen clock when it has not cached
    # the zone before the clock froze (freezegun's localtime has no tm_gmtoff).
    await server.start_server(access_log=None)
    yield f"http://127.0.0.1:{server.port}"
    await server.close()


def device_of_entry(
    device_registry: dr.DeviceRegistry,
    entry: MockConfigEntry,
    identifier: tuple[str, str],
) -> dr.DeviceEntry | None:
    """Return the entry's device with ``identifier``, or None.

    2026.10 deprecates ``async_get_device(identifiers=...)`` (it raises in tests), as
    identifiers are unique per config entry only; 2025.4 lacks its replacement.
    """
    if hasattr(device_registry, "async_get_device_by_identifier"):
        device: dr.DeviceEntry | None = device_registry.async_get_device_by_identifier(
            identifier, entry.entry_id
        )
        return device
    return device_registry.async_get_device(identifiers={identifier})


def simulated_entry(
    cloud_url: str, wifi_sn: str, token: str = DEMO_TOKEN
) -> MockConfigEntry:
    """Return a config entry for a simulated inverter."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=wifi_sn,
        unique_id=wifi_sn,
        data={CONF_API_ADDRESS: cloud_url, CONF_TOKEN: token, CONF_WIFI_SN: wifi_sn},
    )


@pytest.fixture
async def field_cloud(
    socket_enabled: None, cloud: SunvecCloud
) -> AsyncGenerator[FieldCloud]:
    """Serve the simulated cloud behind a proxy that can answer as the field does."""
    async for served in serve_field_cloud(cloud):
        yield served
