"""Tests of the config flow: add, second inverter, reauth and reconfigure."""

from __future__ import annotations

from unittest.mock import AsyncMock

from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_TOKEN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.sunvec.api import (
    SunvecApiError,
    SunvecAuthenticationError,
    SunvecConnectionError,
    SunvecDeviceNotAuthorizedError,
    SunvecMalformedReplyError,
    SunvecNotFoundError,
    SunvecParameterError,
    SunvecRateLimitError,
)
from custom_components.sunvec.const import (
    CONF_ACCOUNT,
    CONF_API_ADDRESS,
    CONF_WIFI_SN,
    DOMAIN,
)

from .conftest import API_ADDRESS, INVERTER_SN, TOKEN, WIFI_SN, example_record

pytestmark = pytest.mark.usefixtures("mock_setup_entry")

USER_INPUT = {
    CONF_API_ADDRESS: "https://api.sunvec-x.com/api/v2/dataAccess/realtimeInfo/get",
    CONF_TOKEN: f" {TOKEN} ",
    CONF_WIFI_SN: "sut1234vb1",
}
EXPECTED_DATA = {
    CONF_API_ADDRESS: API_ADDRESS,
    CONF_TOKEN: TOKEN,
    CONF_WIFI_SN: WIFI_SN,
}


async def test_full_user_flow(
    hass: HomeAssistant, mock_get_realtime: AsyncMock, mock_setup_entry: AsyncMock
) -> None:
    """A user enters address, token and registration number and gets an entry."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "new_account"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], USER_INPUT
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == INVERTER_SN
    assert result["data"] == EXPECTED_DATA
    assert result["result"].unique_id == WIFI_SN
    assert mock_get_realtime.await_count == 1
    assert mock_get_realtime.await_args.args[1] == "sut1234vb1"
    assert len(mock_setup_entry.mock_calls) == 1


async def test_title_falls_back_to_registration_number(
    hass: HomeAssistant, mock_get_realtime: AsyncMock
) -> None:
    """A reply without an inverter serial names the entry after the wifiSn."""
    mock_get_realtime.return_value = example_record(inverterSN=None)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], USER_INPUT
    )
    assert result["title"] == WIFI_SN


@pytest.mark.parametrize(
    ("side_effect", "errors"),
    [
        (SunvecAuthenticationError("refused", 1001), {CONF_TOKEN: "invalid_auth"}),
        (SunvecAuthenticationError("invalid", 103), {CONF_TOKEN: "invalid_auth"}),
        (
            SunvecDeviceNotAuthorizedError("not yours", 1003),
            {CONF_WIFI_SN: "device_not_authorized"},
        ),
        (SunvecNotFoundError("none", 2002), {CONF_WIFI_SN: "not_found"}),
        (SunvecParameterError("bad", 1002), {CONF_WIFI_SN: "invalid_input"}),
        (SunvecRateLimitError("threshold", 104), {"base": "rate_limited"}),
        (SunvecConnectionError("down"), {"base": "cannot_connect"}),
        (SunvecMalformedReplyError("odd"), {"base": "api_error"}),
        (SunvecApiError("new", 4242), {"base": "api_error"}),
        (RuntimeError("boom"), {"base": "unknown"}),
    ],
)
async def test_errors_walk_back_to_an_entry(
    hass: HomeAssistant,
    mock_get_realtime: AsyncMock,
    side_effect: Exception,
    errors: dict[str, str],
) -> None:
    """Each error shows on its field, keeps the form filled in, and can be fixed."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    mock_get_realtime.side_effect = side_effect
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], USER_INPUT
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "new_account"
    assert result["errors"] == errors
    suggested = {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
    }
    assert suggested == USER_INPUT

    mock_get_realtime.side_effect = None
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], USER_INPUT
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == EXPECTED_DATA


@pytest.mark.parametrize(
    ("user_input", "errors"),
    [
        (
            {CONF_API_ADDRESS: "ftp://nowhere"},
            {CONF_API_ADDRESS: "invalid_api_address"},
        ),
        ({CONF_WIFI_SN: "   "}, {CONF_WIFI_SN: "invalid_wifi_sn"}),
    ],
)
async def test_invalid_input_is_caught_before_calling_the_cloud(
    hass: HomeAssistant,
    mock_get_realtime: AsyncMock,
    user_input: dict[str, str],
    errors: dict[str, str],
) -> None:
    """An address or registration number that cannot be right never leaves HA."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], USER_INPUT | user_input
    )
    assert result["errors"] == errors
    assert mock_get_realtime.await_count == 0
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], USER_INPUT
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_same_inverter_twice_aborts(
    hass: HomeAssistant,
    mock_get_realtime: AsyncMock,
    mock_config_entry: MockConfigEntry,
) -> None:
    """Adding an inverter that is already set up aborts."""
    mock_config_entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "new_account"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], USER_INPUT
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_second_inverter_reuses_the_account(
    hass: HomeAssistant,
    mock_get_realtime: AsyncMock,
    mock_config_entry: MockConfigEntry,
) -> None:
    """A second inverter on the same account needs only its registration number."""
    mock_config_entry.add_to_hass(hass)
    mock_get_realtime.return_value = example_record(inverterSN="H34B00017001")
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["existing_account", "new_account"]

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "existing_account"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "existing_account"
    options = result["data_schema"].schema[CONF_ACCOUNT].config["options"]
    assert options == [
        {"value": mock_config_entry.entry_id, "label": f"{API_ADDRESS} ({INVERTER_SN})"}
    ]
    assert TOKEN not in str(result)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_ACCOUNT: mock_config_entry.entry_id, CONF_WIFI_SN: "SUT9999VB2"},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "H34B00017001"
    assert result["data"] == {
        CONF_API_ADDRESS: API_ADDRESS,
        CONF_TOKEN: TOKEN,
        CONF_WIFI_SN: "SUT9999VB2",
    }


async def test_second_inverter_error_recovers(
    hass: HomeAssistant,
    mock_get_realtime: AsyncMock,
    mock_config_entry: MockConfigEntry,
) -> None:
    """A registration number the account cannot see is an error on that field."""
    mock_config_entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "existing_account"}
    )
    user_input = {CONF_ACCOUNT: mock_config_entry.entry_id, CONF_WIFI_SN: "SUT9B"}
    for side_effect, errors in (
        (
            SunvecDeviceNotAuthorizedError("no", 1003),
            {CONF_WIFI_SN: "device_not_authorized"},
        ),
        (SunvecAuthenticationError("revoked", 1001), {"base": "invalid_auth"}),
    ):
        mock_get_realtime.side_effect = side_effect
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], user_input
        )
        assert result["errors"] == errors
    mock_get_realtime.side_effect = None
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_reauth_updates_the_token_of_the_whole_account(
    hass: HomeAssistant,
    mock_get_realtime: AsyncMock,
    mock_config_entry: MockConfigEntry,
) -> None:
    """A new token is checked against the same inverter and given to its siblings."""
    mock_config_entry.add_to_hass(hass)
    sibling = MockConfigEntry(
        domain=DOMAIN,
        title="H34B00017001",
        unique_id="SUT9999VB2",
        data={**mock_config_entry.data, CONF_WIFI_SN: "SUT9999VB2"},
    )
    sibling.add_to_hass(hass)
    other_account = MockConfigEntry(
        domain=DOMAIN,
        title="H34C",
        unique_id="SUT7",
        data={**mock_config_entry.data, CONF_TOKEN: "other", CONF_WIFI_SN: "SUT7"},
    )
    other_account.add_to_hass(hass)

    result = await mock_config_entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    assert list(result["data_schema"].schema) == [CONF_TOKEN]

    mock_get_realtime.side_effect = SunvecAuthenticationError("refused", 1001)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: "still-wrong"}
    )
    assert result["errors"] == {CONF_TOKEN: "invalid_auth"}

    mock_get_realtime.side_effect = SunvecConnectionError("down")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: "new-token"}
    )
    assert result["errors"] == {"base": "cannot_connect"}

    mock_get_realtime.side_effect = None
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: " new-token "}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert mock_get_realtime.await_args.args[1] == WIFI_SN
    assert mock_config_entry.data[CONF_TOKEN] == "new-token"
    assert sibling.data[CONF_TOKEN] == "new-token"
    assert other_account.data[CONF_TOKEN] == "other"


async def test_reconfigure_changes_address_and_token(
    hass: HomeAssistant,
    mock_get_realtime: AsyncMock,
    mock_config_entry: MockConfigEntry,
) -> None:
    """Reconfigure updates the address and token; an empty token keeps the old one."""
    mock_config_entry.add_to_hass(hass)
    result = await mock_config_entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"

    mock_get_realtime.side_effect = SunvecConnectionError("down")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_API_ADDRESS: "eu.sunvec-x.com", CONF_WIFI_SN: WIFI_SN},
    )
    assert result["errors"] == {"base": "cannot_connect"}

    mock_get_realtime.side_effect = None
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_API_ADDRESS: "eu.sunvec-x.com", CONF_WIFI_SN: WIFI_SN},
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert mock_config_entry.data == {
        CONF_API_ADDRESS: "https://eu.sunvec-x.com",
        CONF_TOKEN: TOKEN,
        CONF_WIFI_SN: WIFI_SN,
    }

    result = await mock_config_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_API_ADDRESS: API_ADDRESS, CONF_TOKEN: "fresh", CONF_WIFI_SN: WIFI_SN},
    )
    assert result["reason"] == "reconfigure_successful"
    assert mock_config_entry.data[CONF_TOKEN] == "fresh"


async def test_reconfigure_to_another_inverter_keeps_the_form(
    hass: HomeAssistant,
    mock_get_realtime: AsyncMock,
    mock_config_entry: MockConfigEntry,
) -> None:
    """Another inverter's registration number: an error on that field, no call."""
    mock_config_entry.add_to_hass(hass)
    result = await mock_config_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_ADDRESS: API_ADDRESS, CONF_WIFI_SN: "SUT-OTHER"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_WIFI_SN: "wrong_device"}
    assert mock_get_realtime.await_count == 0
    assert mock_config_entry.data[CONF_WIFI_SN] == WIFI_SN
    # The user corrects it: the flow goes on to the end.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_API_ADDRESS: API_ADDRESS, CONF_WIFI_SN: WIFI_SN}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
