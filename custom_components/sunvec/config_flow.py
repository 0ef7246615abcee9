"""Config flow for Sunvec Connect: add, re-authenticate and reconfigure an inverter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import ConfigFlow, ConfigFlowResult
from homeassistant.const import CONF_TOKEN
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.selector import (
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import voluptuous as vol

from .api import (
    SunvecClient,
    SunvecConnectionError,
    SunvecError,
    SunvecNotApiError,
    SunvecRateLimitError,
    answers_plain_http,
    normalize_api_address,
    normalize_token,
    normalize_wifi_sn,
)
from .budget_registry import account_key, async_get_budget_registry
from .const import CONF_ACCOUNT, CONF_API_ADDRESS, CONF_WIFI_SN, DOMAIN, LOGGER
from .errors import meaning_of
from .models import RealtimeData

# The check waits at most this long for the account's call budget (other inverters
# of the account may be polling); beyond it the form says to try again.
FLOW_WAIT_MAX = 30.0

_TEXT = TextSelector()
_PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))


class SunvecConfigFlow(ConfigFlow, domain=DOMAIN):
    """Adds one Sunvec inverter per config entry."""

    VERSION = 1
    MINOR_VERSION = 2

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Offer the accounts already set up, or go straight to a new account."""
        if self._configured_accounts():
            return self.async_show_menu(
                step_id="user", menu_options=["existing_account", "new_account"]
            )
        return await self.async_step_new_account()

    async def async_step_new_account(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the API address, the token and the registration number."""
        errors: dict[str, str] = {}
        if user_input is not None:
            record, errors = await self._async_validate(
                user_input[CONF_API_ADDRESS],
                user_input[CONF_TOKEN],
                user_input[CONF_WIFI_SN],
            )
            if record is not None:
                return await self._async_create(
                    record,
                    user_input[CONF_API_ADDRESS],
                    user_input[CONF_TOKEN],
                    user_input[CONF_WIFI_SN],
                )
        return self._new_account_form(user_input, errors)

    def _new_account_form(
        self, suggested: Mapping[str, Any] | None, errors: dict[str, str]
    ) -> ConfigFlowResult:
        schema = vol.Schema(
            {
                vol.Required(CONF_API_ADDRESS): _TEXT,
                vol.Required(CONF_TOKEN): _PASSWORD,
                vol.Required(CONF_WIFI_SN): _TEXT,
            }
        )
        return self.async_show_form(
            step_id="new_account",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),  # type: ignore[arg-type, unused-ignore]
            errors=errors,
        )

    async def async_step_existing_account(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Add another inverter with the address and token of a configured one."""
        accounts = self._configured_accounts()
        if not accounts:
            # The last account was removed meanwhile: say so, and ask for one anew.
            return self._new_account_form(
                None
                if user_input is None
                else {CONF_WIFI_SN: user_input[CONF_WIFI_SN]},
                {"base": "account_gone"},
            )
        errors: dict[str, str] = {}
        if user_input is not None and user_input[CONF_ACCOUNT] not in accounts:
            errors = {CONF_ACCOUNT: "account_gone"}
        elif user_input is not None:
            api_address, token = accounts[user_input[CONF_ACCOUNT]][:2]
            record, errors = await self._async_validate(
                api_address, token, user_input[CONF_WIFI_SN]
            )
            if record is not None:
                return await self._async_create(
                    record, api_address, token, user_input[CONF_WIFI_SN]
                )
        schema = vol.Schema(
            {
                vol.Required(CONF_ACCOUNT): SelectSelector(
                    SelectSelectorConfig(
                        options=[
                            SelectOptionDict(value=key, label=label)
                            for key, (_, _, label) in accounts.items()
                        ]
                    )
                ),
                vol.Required(CONF_WIFI_SN): _TEXT,
            }
        )
        return self.async_show_form(
            step_id="existing_account",
            data_schema=self.add_suggested_values_to_schema(
                schema,  # type: ignore[arg-type, unused-ignore]
                user_input or {CONF_ACCOUNT: next(iter(accounts))},
            ),
            errors=_on_fields(errors, schema),
        )

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """Start re-authentication after the cloud refused the token."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask only for a new token and check it against the same inverter."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            record, errors = await self._async_validate(
                entry.data[CONF_API_ADDRESS],
                user_input[CONF_TOKEN],
                entry.data[CONF_WIFI_SN],
            )
            if record is not None:
                self._update_siblings(
                    entry.entry_id,
                    entry.data[CONF_API_ADDRESS],
                    entry.data[CONF_TOKEN],
                    {CONF_TOKEN: normalize_token(user_input[CONF_TOKEN])},
                )
                return self.async_update_reload_and_abort(
                    entry,
                    data_updates={CONF_TOKEN: normalize_token(user_input[CONF_TOKEN])},
                )
        schema = vol.Schema({vol.Required(CONF_TOKEN): _PASSWORD})
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=schema,  # type: ignore[arg-type, unused-ignore]
            description_placeholders={"name": entry.title},
            errors=_on_fields(errors, schema),
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the API address and token of a configured inverter."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            token = user_input.get(CONF_TOKEN) or entry.data[CONF_TOKEN]
            if _same_inverter(user_input[CONF_WIFI_SN], entry.unique_id):
                record, errors = await self._async_validate(
                    user_input[CONF_API_ADDRESS], token, user_input[CONF_WIFI_SN]
                )
            else:
                record, errors = None, {CONF_WIFI_SN: "wrong_device"}
            if record is not None:
                return self.async_update_reload_and_abort(
                    entry,
                    data_updates={
                        CONF_API_ADDRESS: normalize_api_address(
                            user_input[CONF_API_ADDRESS]
                        ),
                        CONF_TOKEN: normalize_token(token),
                    },
                )
        schema = vol.Schema(
            {
                vol.Required(CONF_API_ADDRESS): _TEXT,
                vol.Optional(CONF_TOKEN): _PASSWORD,
                vol.Required(CONF_WIFI_SN): _TEXT,
            }
        )
        suggested = user_input or {
            CONF_API_ADDRESS: entry.data[CONF_API_ADDRESS],
            CONF_WIFI_SN: entry.data[CONF_WIFI_SN],
        }
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(schema, suggested),  # type: ignore[arg-type, unused-ignore]
            description_placeholders={"name": entry.title},
            errors=errors,
        )

    async def _async_create(
        self, record: RealtimeData, api_address: str, token: str, wifi_sn: str
    ) -> ConfigFlowResult:
        wifi_sn = normalize_wifi_sn(wifi_sn)
        await self.async_set_unique_id(wifi_sn)
        self._abort_if_unique_id_configured()
        return self.async_create_entry(
            title=record.inverter_sn or wifi_sn,
            data={
                CONF_API_ADDRESS: normalize_api_address(api_address),
                CONF_TOKEN: normalize_token(token),
                CONF_WIFI_SN: wifi_sn,
            },
        )

    async def _async_validate(
        self, api_address: str, token: str, wifi_sn: str
    ) -> tuple[RealtimeData | None, dict[str, str]]:
        """Call the cloud once; return the record or the errors per field."""
        if (field_errors := _format_errors(api_address, token, wifi_sn)) is not None:
            return None, field_errors
        session = async_get_clientsession(self.hass)
        client = SunvecClient(session, api_address, token)
        registry = await async_get_budget_registry(self.hass)
        account = account_key(client.base_url, normalize_token(token))
        if not await registry.async_wait_for_call(
            account, f"config flow {self.flow_id}", FLOW_WAIT_MAX
        ):
            return None, {"base": "rate_limited"}
        try:
            return await client.get_realtime(wifi_sn), {}
        except Exception as err:  # noqa: BLE001 - every failure gives the form back
            failure = err
        if isinstance(failure, SunvecRateLimitError) and failure.retry_after:
            # A lock-out or a Retry-After holds for the account, not for this form.
            registry.pause_for_rate_limit(account, failure.retry_after)
        meaning = meaning_of(failure)
        if not isinstance(failure, SunvecError):
            LOGGER.warning(
                "Unexpected error while checking the Sunvec account: %s",
                type(failure).__name__,
            )
            return None, {meaning.field: meaning.key}
        LOGGER.info("The Sunvec cloud refused the check: %s", failure)
        if (
            isinstance(failure, SunvecConnectionError)
            and not isinstance(failure, SunvecNotApiError)
            and "://" not in api_address
            and await answers_plain_http(session, api_address)
        ):
            # Typed without a scheme, HTTPS unreachable, plain HTTP answers.
            return None, {CONF_API_ADDRESS: "use_http"}
        return None, {meaning.field: meaning.key}

    def _configured_accounts(self) -> dict[str, tuple[str, str, str]]:
        """Return the distinct accounts of the configured inverters.

        Keyed by the entry id of their first inverter (never by the token), each with
        its API address, token and a label naming the address and its inverters.
        """
        accounts: dict[tuple[str, str], list[str]] = {}
        first_entry: dict[tuple[str, str], str] = {}
        for entry in self._async_current_entries(include_ignore=False):
            account = (entry.data[CONF_API_ADDRESS], entry.data[CONF_TOKEN])
            accounts.setdefault(account, []).append(entry.title)
            first_entry.setdefault(account, entry.entry_id)
        return {
            first_entry[account]: (
                account[0],
                account[1],
                f"{account[0]} ({', '.join(sorted(titles))})",
            )
            for account, titles in accounts.items()
        }

    def _update_siblings(
        self,
        entry_id: str,
        api_address: str,
        old_token: str,
        data_updates: dict[str, Any],
    ) -> None:
        """Give the other inverters of the same account the new token, and reload them."""
        for sibling in self._async_current_entries(include_ignore=False):
            if (
                sibling.entry_id != entry_id
                and sibling.data[CONF_API_ADDRESS] == api_address
                and sibling.data[CONF_TOKEN] == old_token
            ):
                self.hass.config_entries.async_update_entry(
                    sibling, data={**sibling.data, **data_updates}
                )
                self.hass.config_entries.async_schedule_reload(sibling.entry_id)


def _same_inverter(wifi_sn: str, unique_id: str | None) -> bool:
    """Return whether a typed registration number is the entry's inverter."""
    try:
        return normalize_wifi_sn(wifi_sn) == unique_id
    except ValueError:
        return True  # the check says what is wrong with it


def _format_errors(api_address: str, token: str, wifi_sn: str) -> dict[str, str] | None:
    """Return the error of the first field the cloud cannot be asked with, if any."""
    try:
        normalize_wifi_sn(wifi_sn)
    except ValueError:
        return {CONF_WIFI_SN: "invalid_wifi_sn"}
    try:
        normalize_token(token)
    except ValueError:
        return {CONF_TOKEN: "invalid_token"}
    try:
        normalize_api_address(api_address)
    except ValueError:
        return {CONF_API_ADDRESS: "invalid_api_address"}
    return None


def _on_fields(errors: dict[str, str], schema: vol.Schema) -> dict[str, str]:
    """Move errors about fields a form does not show to the form's base."""
    shown = {str(key) for key in schema.schema}
    return {
        (field if field in shown or field == "base" else "base"): error
        for field, error in errors.items()
    }
