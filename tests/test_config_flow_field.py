"""What the user reads: the config flow and the log against what the field sends.

Issue 13, "What the user reads" and the config flow's part of "Entities and
lifecycle": a token with a line break, an account removed while the form is open, an
address whose path answers 404, a host that only answers plain HTTP, reconfiguring
with another inverter's registration number, and a reason sent in ``result``. Each
error is on its field and the flow walks back to an entry; the cloud is the
simulator over loopback.
"""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Any

from aiohttp import web
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_TOKEN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.util import dt as dt_util
import pytest

from custom_components.sunvec.const import (
    CONF_ACCOUNT,
    CONF_API_ADDRESS,
    CONF_WIFI_SN,
    DOMAIN,
)
from sunvec_simulator import DEMO_TOKEN, DEMO_TOKEN_2, Fault, SunvecCloud

from .conftest import simulated_entry
from .field_cloud import Call, FieldCloud, assert_no_traceback, our_lines, run_until
from .test_data_quality import GRID_TIED, HYBRID, add_inverter


async def new_account_form(hass: HomeAssistant) -> dict[str, Any]:
    """Open the form of a new account (after the menu, if an account exists)."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    if result["type"] is FlowResultType.MENU:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"next_step_id": "new_account"}
        )
    assert result["step_id"] == "new_account"
    return result


@pytest.mark.usefixtures("mock_setup_entry")
@pytest.mark.parametrize("token", [f"{DEMO_TOKEN}\n", f"sunvec\r{DEMO_TOKEN}", "a\nb"])
async def test_a_token_with_a_line_break_is_an_error_on_the_token(
    hass: HomeAssistant,
    field_cloud: FieldCloud,
    caplog: pytest.LogCaptureFixture,
    token: str,
) -> None:
    """A pasted line break: the token field says so, nothing is sent, no traceback."""
    result = await new_account_form(hass)
    user_input = {
        CONF_API_ADDRESS: field_cloud.url,
        CONF_TOKEN: f"x{token}x",
        CONF_WIFI_SN: HYBRID,
    }
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_TOKEN: "invalid_token"}
    assert field_cloud.calls == []
    assert_no_traceback(caplog)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input | {CONF_TOKEN: f" {DEMO_TOKEN} "}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_TOKEN] == DEMO_TOKEN


@pytest.mark.usefixtures("mock_setup_entry")
async def test_an_account_removed_while_the_form_is_open(
    hass_at_plant: HomeAssistant,
    cloud: SunvecCloud,
    field_cloud: FieldCloud,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The chosen account's last inverter is removed meanwhile: an error on the field."""
    hass = hass_at_plant
    first = simulated_entry(field_cloud.url, HYBRID)
    first.add_to_hass(hass)
    other = simulated_entry(field_cloud.url, "SVDEMOGRD2", token=DEMO_TOKEN_2)
    other.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "existing_account"}
    )
    assert result["step_id"] == "existing_account"
    await hass.config_entries.async_remove(first.entry_id)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ACCOUNT: first.entry_id, CONF_WIFI_SN: GRID_TIED}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_ACCOUNT: "account_gone"}
    assert field_cloud.calls == []
    # The user picks the account that is still there.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ACCOUNT: other.entry_id, CONF_WIFI_SN: "SVDEMOHYB2"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_TOKEN] == DEMO_TOKEN_2
    assert_no_traceback(caplog)


@pytest.mark.usefixtures("mock_setup_entry")
async def test_the_only_account_removed_while_the_form_is_open(
    hass_at_plant: HomeAssistant,
    field_cloud: FieldCloud,
) -> None:
    """No account is left: the user is told, and can enter one anew."""
    hass = hass_at_plant
    first = simulated_entry(field_cloud.url, HYBRID)
    first.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "existing_account"}
    )
    await hass.config_entries.async_remove(first.entry_id)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_ACCOUNT: first.entry_id, CONF_WIFI_SN: GRID_TIED}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "account_gone"}
    assert field_cloud.calls == []
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_API_ADDRESS: field_cloud.url,
            CONF_TOKEN: DEMO_TOKEN,
            CONF_WIFI_SN: GRID_TIED,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.usefixtures("mock_setup_entry")
async def test_an_address_whose_path_answers_404_is_not_the_api(
    hass: HomeAssistant,
    field_cloud: FieldCloud,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A server that answers 404: not "cannot connect", but "not the API" on the field."""
    caplog.set_level(logging.INFO)

    def not_found(call: Call) -> web.Response | None:
        return web.Response(status=404, text="<h1>Not Found</h1>")

    field_cloud.answer = not_found
    result = await new_account_form(hass)
    user_input = {
        CONF_API_ADDRESS: f"{field_cloud.url}/portal",
        CONF_TOKEN: DEMO_TOKEN,
        CONF_WIFI_SN: HYBRID,
    }
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input
    )
    assert result["errors"] == {CONF_API_ADDRESS: "not_api"}
    assert "service → API" in caplog.text
    field_cloud.answer = None
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input | {CONF_API_ADDRESS: field_cloud.url}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.usefixtures("mock_setup_entry")
async def test_a_host_without_scheme_that_only_answers_http(
    hass: HomeAssistant,
    field_cloud: FieldCloud,
) -> None:
    """Typed without http://, HTTPS fails, plain HTTP answers: suggest http://."""
    host = field_cloud.url.removeprefix("http://")
    result = await new_account_form(hass)
    user_input = {
        CONF_API_ADDRESS: host,
        CONF_TOKEN: DEMO_TOKEN,
        CONF_WIFI_SN: HYBRID,
    }
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input
    )
    assert result["errors"] == {CONF_API_ADDRESS: "use_http"}
    # The plain-HTTP probe carried no token.
    assert [call.token for call in field_cloud.calls_to()] == [None]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input | {CONF_API_ADDRESS: f"http://{host}"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.usefixtures("mock_setup_entry")
async def test_an_unreachable_host_without_scheme_cannot_connect(
    hass: HomeAssistant,
    field_cloud: FieldCloud,
) -> None:
    """Nothing answers on either scheme: cannot connect, not use_http."""
    result = await new_account_form(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_API_ADDRESS: "127.0.0.1:9",  # the discard port: nothing listens
            CONF_TOKEN: DEMO_TOKEN,
            CONF_WIFI_SN: HYBRID,
        },
    )
    assert result["errors"] == {"base": "cannot_connect"}


@pytest.mark.usefixtures("mock_setup_entry")
async def test_reconfigure_with_another_inverter_keeps_the_form(
    hass_at_plant: HomeAssistant,
    field_cloud: FieldCloud,
) -> None:
    """Another inverter of the account: an error on the field, no call, no abort."""
    hass = hass_at_plant
    entry = simulated_entry(field_cloud.url, HYBRID)
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    user_input = {CONF_API_ADDRESS: field_cloud.url, CONF_WIFI_SN: GRID_TIED}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_WIFI_SN: "wrong_device"}
    assert field_cloud.calls == []
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input | {CONF_WIFI_SN: HYBRID.lower()}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"


@pytest.mark.usefixtures("mock_setup_entry")
async def test_the_reason_in_result_is_what_the_log_and_form_show(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    field_cloud: FieldCloud,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`result` "this sn did not access!" with "Query success!": the log says the first."""
    hass = hass_at_plant
    caplog.set_level(logging.INFO)
    cloud.set_fault(Fault.REASON_IN_RESULT, count=1)
    result = await new_account_form(hass)
    user_input = {
        CONF_API_ADDRESS: field_cloud.url,
        CONF_TOKEN: DEMO_TOKEN,
        CONF_WIFI_SN: GRID_TIED,
    }
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input
    )
    assert result["errors"] == {"base": "api_error"}
    checked = [line.getMessage() for line in our_lines(caplog, logging.INFO)]
    assert any("this sn did not access!" in line for line in checked), checked
    assert not any("Query success" in line for line in checked), checked


async def test_the_reason_in_result_while_polling_is_logged(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    cloud: SunvecCloud,
    field_cloud: FieldCloud,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The same reply while polling: the one error line says the reason."""
    hass = hass_at_plant
    await add_inverter(hass, simulated_entry(field_cloud.url, HYBRID))
    caplog.clear()
    cloud.set_fault(Fault.REASON_IN_RESULT, count=3)
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=30))
    errors = [line.getMessage() for line in our_lines(caplog, logging.ERROR)]
    assert len(errors) == 1, errors
    assert "this sn did not access!" in errors[0]
    assert "Query success" not in errors[0]
