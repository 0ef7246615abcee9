"""What the house uses: the energy balance at the grid connection, as power and energy."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from unittest.mock import AsyncMock

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    mock_restore_cache_with_extra_data,
)

from custom_components.sunvec.const import DOMAIN
from sunvec_simulator import SunvecCloud

from .conftest import EXAMPLE_NOW, WIFI_SN, example_record, simulated_entry
from .test_data_quality import (
    GRID_TIED,
    HYBRID,
    add_inverter,
    at_plant,
    entity_id,
    run_until,
)

HOME_POWER = "sensor.sunvec_h34a00016008_home_consumption_power"
HOME_ENERGY = "sensor.sunvec_h34a00016008_home_consumption_energy"


async def _poll(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock: AsyncMock,
    minutes: float,
    **fields: Any,
) -> None:
    """Poll two minutes after a record uploaded ``minutes`` after the example's."""
    upload = datetime(2024, 8, 20, 9, 21, 43) + timedelta(minutes=minutes)
    mock.return_value = example_record(
        uploadTime=upload.strftime("%Y-%m-%d %H:%M:%S"), **fields
    )
    freezer.move_to(
        dt_util.parse_datetime(EXAMPLE_NOW) + timedelta(minutes=minutes)  # type: ignore[operator]
    )
    await hass.config_entries.async_entries(DOMAIN)[0].runtime_data.async_refresh()
    await hass.async_block_till_done()


@pytest.mark.parametrize(
    ("ac_power", "feed_in_power", "home"),
    [
        (152, 0, 152.0),  # all to the house
        (3000, 2000, 1000.0),  # exporting the surplus
        (0, -800, 800.0),  # importing at night
        (2500, -300, 2800.0),  # both
        (1000, 1010, 0.0),  # samples a moment apart: never negative
        (None, 0, None),
        (152, None, None),
    ],
)
async def test_home_power_is_the_balance_at_the_grid_connection(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    mock_get_realtime: AsyncMock,
    ac_power: float | None,
    feed_in_power: float | None,
    home: float | None,
) -> None:
    await _poll(
        hass, freezer, mock_get_realtime, 5, acpower=ac_power, feedinpower=feed_in_power
    )
    state = hass.states.get(HOME_POWER).state
    assert (state == STATE_UNKNOWN) if home is None else (float(state) == home)


async def test_home_power_is_unavailable_when_the_upload_is_stale(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    mock_get_realtime: AsyncMock,
) -> None:
    """No guess while no upload comes: the house's use is not known."""
    assert float(hass.states.get(HOME_POWER).state) == 152
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=20))
    assert hass.states.get(HOME_POWER).state == STATE_UNAVAILABLE
    # And so it stays while the inverter sleeps at night: 0 W only if a record says.
    await _poll(hass, freezer, mock_get_realtime, 25, acpower=0, feedinpower=0)
    assert float(hass.states.get(HOME_POWER).state) == 0


async def test_home_energy_integrates_the_house_per_upload(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    mock_get_realtime: AsyncMock,
) -> None:
    """Upload by upload, with no guess across a gap and nothing twice."""
    assert float(hass.states.get(HOME_ENERGY).state) == 0.0
    # 152 W, then 1152 W (importing 1000 W): one trapezoid over 5 minutes.
    await _poll(hass, freezer, mock_get_realtime, 5, acpower=152, feedinpower=-1000)
    first = (152 + 1152) / 2 * 300 / 3.6e6
    assert float(hass.states.get(HOME_ENERGY).state) == pytest.approx(first)
    # The same record again: nothing more.
    await _poll(hass, freezer, mock_get_realtime, 5, acpower=152, feedinpower=-1000)
    assert float(hass.states.get(HOME_ENERGY).state) == pytest.approx(first)
    # A gap of more than three upload periods adds nothing.
    await _poll(hass, freezer, mock_get_realtime, 30, acpower=152, feedinpower=0)
    assert float(hass.states.get(HOME_ENERGY).state) == pytest.approx(first)
    # A sample of several hundred kW is not integrated.
    await _poll(
        hass, freezer, mock_get_realtime, 35, acpower=99_000, feedinpower=-99_000
    )
    await _poll(hass, freezer, mock_get_realtime, 40, acpower=152, feedinpower=0)
    assert float(hass.states.get(HOME_ENERGY).state) == pytest.approx(first)


async def test_home_energy_continues_after_a_restart(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_get_realtime: AsyncMock,
    mock_config_entry: MockConfigEntry,
) -> None:
    """The stored total and sample carry on: no reset, no spike."""
    freezer.move_to(EXAMPLE_NOW)
    mock_config_entry.add_to_hass(hass)
    er.async_get(hass).async_get_or_create(
        "sensor",
        DOMAIN,
        f"{WIFI_SN}_home_consumption_energy",
        config_entry=mock_config_entry,
        suggested_object_id="restored_home_energy",
    )
    upload = dt_util.parse_datetime("2024-08-20T16:21:43+00:00")
    assert upload is not None
    mock_restore_cache_with_extra_data(
        hass,
        [
            (
                State("sensor.restored_home_energy", "12.5"),
                {
                    "native_value": 12.5,
                    "native_unit_of_measurement": "kWh",
                    "memory": {
                        "total_kwh": 12.5,
                        "last_time": (upload - timedelta(minutes=5)).isoformat(),
                        "last_power_w": 152.0,
                    },
                },
            )
        ],
    )
    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    # The example record (152 W at the house) five minutes after the stored one.
    expected = 12.5 + 152 * 300 / 3.6e6
    assert float(hass.states.get("sensor.restored_home_energy").state) == (
        pytest.approx(expected)
    )


async def test_home_energy_matches_the_simulated_household(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    cloud_url: str,
) -> None:
    """Over an afternoon of a hybrid inverter: within 2 % of what the house drew."""
    hass = hass_at_plant
    await add_inverter(hass, simulated_entry(cloud_url, HYBRID))
    energy = entity_id(hass, HYBRID, "home_consumption_energy")
    last_upload = entity_id(hass, HYBRID, "last_upload")
    # From an upload after the simulated inverter was made (its truth starts then).
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=10))
    start_kwh = float(hass.states.get(energy).state)
    start = dt_util.parse_datetime(hass.states.get(last_upload).state)
    await run_until(hass, freezer, at_plant("2026-06-21 18:00"))
    end = dt_util.parse_datetime(hass.states.get(last_upload).state)
    assert start is not None and end is not None
    truth = cloud.inverter(HYBRID).energy_truth(start, end)["household"]
    assert truth > 1.0
    integrated = float(hass.states.get(energy).state) - start_kwh
    assert integrated == pytest.approx(truth, rel=0.02)


@pytest.mark.parametrize("wifi_sn", [HYBRID, GRID_TIED])
async def test_home_consumption_exists_on_every_kind_with_ac_and_feed_in(
    hass_at_plant: HomeAssistant, cloud_url: str, wifi_sn: str
) -> None:
    hass = hass_at_plant
    await add_inverter(hass, simulated_entry(cloud_url, wifi_sn))
    for key in ("home_consumption_power", "home_consumption_energy"):
        state = hass.states.get(entity_id(hass, wifi_sn, key))
        assert state is not None
        assert state.state not in (STATE_UNAVAILABLE, STATE_UNKNOWN)
