"""The repair issues: an inverter that stopped uploading, an account that is rate-limited."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir, sun
from homeassistant.util import dt as dt_util

from .const import CONF_WIFI_SN, DOMAIN

# An inverter that has not uploaded for this long while the sun is up gets a repair
# issue: long enough for a late morning start or a cloud hiccup, short enough to
# notice a broken Wi-Fi module on the same day.
NOT_UPLOADING_ISSUE_AFTER = timedelta(hours=2)


def _not_uploading_id(wifi_sn: str) -> str:
    return f"not_uploading_{wifi_sn}"


def _rate_limited_id(account: str) -> str:
    return f"rate_limited_{account}"


@callback
def async_update_not_uploading(
    hass: HomeAssistant,
    wifi_sn: str,
    name: str,
    last_upload: datetime | None,
    now: datetime,
) -> None:
    """Raise or withdraw the issue of an inverter that last uploaded at ``last_upload``.

    Raised when no upload came for hours in daylight; withdrawn at the next upload
    (an undated record counts as one).
    """
    if last_upload is None or now - last_upload < NOT_UPLOADING_ISSUE_AFTER:
        async_clear_not_uploading(hass, wifi_sn)
        return
    if not sun.is_up(hass):
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        _not_uploading_id(wifi_sn),
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="not_uploading",
        translation_placeholders={
            "name": name,
            "since": dt_util.as_local(last_upload).strftime("%Y-%m-%d %H:%M"),
        },
    )


@callback
def async_clear_not_uploading(hass: HomeAssistant, wifi_sn: str) -> None:
    """Withdraw the not-uploading issue of an inverter (it uploads, or is removed)."""
    ir.async_delete_issue(hass, DOMAIN, _not_uploading_id(wifi_sn))


@callback
def async_raise_rate_limited(
    hass: HomeAssistant,
    account: str,
    inverters: Iterable[str],
    count: int,
    until: datetime,
) -> None:
    """Tell the user that an account's calls keep being refused for its rate limit.

    Args:
        hass: Home Assistant.
        account: The account's key.
        inverters: The registration numbers of the account's inverters.
        count: Rate-limit replies in a row.
        until: When polling resumes.
    """
    wifi_sns = set(inverters)
    names = sorted(
        entry.title
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.data.get(CONF_WIFI_SN) in wifi_sns
    )
    ir.async_create_issue(
        hass,
        DOMAIN,
        _rate_limited_id(account),
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="rate_limited",
        translation_placeholders={
            "names": ", ".join(names or sorted(wifi_sns)),
            "count": str(count),
            "until": dt_util.as_local(until).strftime("%H:%M"),
        },
    )


@callback
def async_clear_rate_limited(hass: HomeAssistant, account: str) -> None:
    """Withdraw the rate-limit issue of an account, if raised."""
    ir.async_delete_issue(hass, DOMAIN, _rate_limited_id(account))
