"""The token goes to the configured host only, and nothing that outlives a call holds it.

Issue 13, "Secrets": a redirect to another host (or another name of the same host)
is not followed, so the ``tokenId`` header never reaches it; when the cloud echoes
the token, no log line, exception chain, repr, diagnostics or repair issue holds it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
import json
import logging
import traceback
from urllib.parse import quote

from aiohttp import web
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import CONF_TOKEN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest

from custom_components.sunvec.const import CONF_API_ADDRESS, CONF_WIFI_SN, DOMAIN
from custom_components.sunvec.diagnostics import async_get_config_entry_diagnostics
from sunvec_simulator import DEMO_TOKEN, Fault

from .conftest import simulated_entry
from .field_cloud import (
    REALTIME_PATH,
    Call,
    FieldCloud,
    assert_no_traceback,
    our_lines,
    run_until,
)
from .test_data_quality import HYBRID, add_inverter, entity_id

SECRETS = (DEMO_TOKEN, quote(DEMO_TOKEN, safe=""))


def exception_chain(error: BaseException | None) -> Iterator[BaseException]:
    """Yield an exception and every exception it chains to."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def texts_of(error: BaseException) -> list[str]:
    """Return what an exception can show: its text, repr, arguments and attributes."""
    texts = [str(error), repr(error), *map(repr, error.args)]
    texts += [repr(value) for value in vars(error).values()]
    # What the frames of its traceback keep alive (a text, a response, a request).
    for frame, _ in traceback.walk_tb(error.__traceback__):
        texts += [
            repr(value)
            for value in frame.f_locals.values()
            if isinstance(value, str | bytes | BaseException)
            or type(value).__module__.startswith(("aiohttp", "multidict", "yarl"))
        ]
    return texts


def assert_nowhere(hass: HomeAssistant, caplog: pytest.LogCaptureFixture) -> None:
    """The token is in no log line, exception chain, repr, diagnostics or issue."""
    places = [record.getMessage() for record in caplog.records]
    places += [caplog.text]
    for record in caplog.records:
        if record.exc_info and record.exc_info[1] is not None:
            for link in exception_chain(record.exc_info[1]):
                places += texts_of(link)
    for entry in hass.config_entries.async_entries("sunvec"):
        places.append(str(entry.reason))
        coordinator = getattr(entry, "runtime_data", None)
        if coordinator is not None:
            places += [repr(coordinator), repr(coordinator.client)]
            for link in exception_chain(coordinator.last_exception):
                places += texts_of(link)
    places += [
        json.dumps(issue.to_json(), default=str)
        for issue in ir.async_get(hass).issues.values()
    ]
    for place in places:
        for secret in SECRETS:
            assert secret not in place, place


def redirect_to(location: str, status: int = 302) -> web.Response:
    return web.Response(status=status, headers={"Location": location})


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("where", ["other_port", "other_name"])
async def test_a_redirect_to_another_host_never_gets_the_token(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    field_cloud: FieldCloud,
    caplog: pytest.LogCaptureFixture,
    status: int,
    where: str,
) -> None:
    """Polls that get a redirect elsewhere: not followed, and the log names the place."""
    hass = hass_at_plant
    await add_inverter(hass, simulated_entry(field_cloud.url, HYBRID))
    port = field_cloud.url.rsplit(":", 1)[1]
    # Another server, or this one under another name (another origin all the same).
    target = (
        f"{field_cloud.elsewhere_url}{REALTIME_PATH}"
        if where == "other_port"
        else f"http://localhost:{port}{REALTIME_PATH}"
    )

    def redirect(call: Call) -> web.Response | None:
        return redirect_to(target, status) if call.host.startswith("127.") else None

    field_cloud.answer = redirect
    caplog.clear()
    start = dt_util.utcnow()
    await run_until(hass, freezer, start + timedelta(minutes=30))

    redirected = field_cloud.calls_between(start, dt_util.utcnow())
    assert len(redirected) >= 3  # polling went on
    assert all(call.host.startswith("127.0.0.1") for call in redirected)
    assert field_cloud.calls_to("elsewhere") == []
    assert hass.states.get(entity_id(hass, HYBRID, "ac_power")).state == "unavailable"
    errors = our_lines(caplog, logging.ERROR)
    assert len(errors) == 1
    assert target.split("/api/", maxsplit=1)[0] in errors[0].getMessage()

    field_cloud.answer = None
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=10))
    assert hass.states.get(entity_id(hass, HYBRID, "ac_power")).state != "unavailable"
    assert_nowhere(hass, caplog)


async def test_a_redirect_within_the_origin_is_followed(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    field_cloud: FieldCloud,
) -> None:
    """The same host moving the API path: followed, with the token, and it works."""
    hass = hass_at_plant

    def moved(call: Call) -> web.Response | None:
        return (
            redirect_to("/moved" + REALTIME_PATH, 307)
            if call.path == (REALTIME_PATH)
            else None
        )

    field_cloud.answer = moved
    await add_inverter(hass, simulated_entry(field_cloud.url, HYBRID))
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=10))
    paths = [call.path for call in field_cloud.calls_to()]
    assert paths.count("/moved" + REALTIME_PATH) >= 2
    assert all(call.token == DEMO_TOKEN for call in field_cloud.calls_to())
    assert hass.states.get(entity_id(hass, HYBRID, "ac_power")).state != "unavailable"


ECHO_PLACES = ["exception", "result", "html", "location"]


@pytest.mark.parametrize("where", ECHO_PLACES)
async def test_a_token_echoed_at_setup_is_nowhere(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    field_cloud: FieldCloud,
    caplog: pytest.LogCaptureFixture,
    where: str,
) -> None:
    """Echoed in the first reply: not in the set-up's log lines or reason."""
    hass = hass_at_plant
    caplog.set_level(logging.DEBUG)
    field_cloud.cloud.set_fault(Fault.ECHO_TOKEN, where=where, count=1)
    entry = simulated_entry(field_cloud.url, HYBRID)
    entry.add_to_hass(hass)
    assert not await hass.config_entries.async_setup(entry.entry_id)
    assert entry.reason
    assert_nowhere(hass, caplog)
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=5))
    assert_nowhere(hass, caplog)
    assert_no_traceback(caplog)


@pytest.mark.parametrize("where", ECHO_PLACES)
async def test_a_token_echoed_while_polling_is_nowhere(
    hass_at_plant: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    field_cloud: FieldCloud,
    caplog: pytest.LogCaptureFixture,
    where: str,
) -> None:
    """Echoed on every poll: not in the log, the last exception's chain, any repr."""
    hass = hass_at_plant
    caplog.set_level(logging.DEBUG)
    entry = simulated_entry(field_cloud.url, HYBRID)
    await add_inverter(hass, entry)
    field_cloud.cloud.set_fault(Fault.ECHO_TOKEN, where=where)
    await run_until(hass, freezer, dt_util.utcnow() + timedelta(minutes=20))

    if where != "exception":  # a refused token stops polling (re-authentication)
        assert len(field_cloud.calls_to()) >= 4
    coordinator = entry.runtime_data
    assert coordinator.last_exception is not None
    assert_nowhere(hass, caplog)
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    for secret in SECRETS:
        assert secret not in json.dumps(diagnostics, default=str)
    assert_no_traceback(caplog)


@pytest.mark.usefixtures("mock_setup_entry")
@pytest.mark.parametrize("where", ECHO_PLACES)
async def test_a_token_echoed_to_the_config_flow_check_is_nowhere(
    hass: HomeAssistant,
    field_cloud: FieldCloud,
    caplog: pytest.LogCaptureFixture,
    where: str,
) -> None:
    """The check of a new account gets the echo: not in the log, nor in the form."""
    caplog.set_level(logging.DEBUG)
    field_cloud.cloud.set_fault(Fault.ECHO_TOKEN, where=where, count=1)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    user_input = {
        CONF_API_ADDRESS: field_cloud.url,
        CONF_TOKEN: DEMO_TOKEN,
        CONF_WIFI_SN: HYBRID,
    }
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"]
    checked = [r.getMessage() for r in our_lines(caplog, logging.INFO)]
    assert any("refused the check" in line for line in checked), checked
    form = json.dumps(
        {key: value for key, value in result.items() if key != "data_schema"},
        default=str,
    )
    for secret in SECRETS:
        assert secret not in form
    assert_nowhere(hass, caplog)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
