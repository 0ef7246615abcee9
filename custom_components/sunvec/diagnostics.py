"""Diagnostics for Sunvec Connect: the entry and the last reply, with secrets redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import CONF_TOKEN
from homeassistant.core import HomeAssistant

from .const import CONF_WIFI_SN
from .coordinator import SunvecConfigEntry

TO_REDACT_ENTRY = {CONF_TOKEN, CONF_WIFI_SN}
TO_REDACT_RECORD = {"inverter_sn", "wifi_module_sn"}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: SunvecConfigEntry
) -> dict[str, Any]:
    """Return what helps to debug the entry, never the token or the serials."""
    coordinator = entry.runtime_data
    data = coordinator.data
    return {
        "entry": {
            "data": async_redact_data(dict(entry.data), TO_REDACT_ENTRY),
            "version": entry.version,
            "minor_version": entry.minor_version,
        },
        "last_update_success": coordinator.last_update_success,
        "scheduling": coordinator.scheduler.diagnostics(),
        "clock_offset_s": coordinator.reader.clock.offset.total_seconds(),
        "last_reply": None
        if data is None
        else {
            "record": async_redact_data(asdict(data.record), TO_REDACT_RECORD),
            "upload": None
            if data.upload is None
            else {
                "instant": data.upload.instant,
                "timestamp": data.upload.timestamp,
                "plant_day": data.upload.plant_day.isoformat(),
            },
            "received_at": data.received_at,
            "as_of": data.as_of,
            "stale": data.stale,
            "asleep": data.asleep,
            "plant_today": data.plant_today.isoformat(),
        },
    }
