"""Runtime data and the coordinator that polls one inverter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_TOKEN
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .api import (
    SunvecAuthenticationError,
    SunvecClient,
    SunvecConnectionError,
    SunvecDeviceNotAuthorizedError,
    SunvecError,
    SunvecNotFoundError,
    SunvecRateLimitError,
)
from .const import CONF_API_ADDRESS, CONF_WIFI_SN, DOMAIN, LOGGER
from .models import RealtimeData

type SunvecConfigEntry = ConfigEntry[SunvecCoordinator]

UPDATE_INTERVAL = timedelta(seconds=60)
# How long to wait after a rate-limit reply before asking again (the cloud forgives
# a per-minute violation after the minute; repeated ones lock the token for longer).
RATE_LIMIT_RETRY_AFTER = 120


@dataclass(frozen=True, slots=True, kw_only=True)
class SunvecData:
    """What the entities show: the last record and when it was uploaded."""

    record: RealtimeData
    upload_time: datetime | None
    received_at: datetime


class SunvecCoordinator(DataUpdateCoordinator[SunvecData]):
    """Polls the realtime record of one inverter."""

    config_entry: SunvecConfigEntry

    def __init__(self, hass: HomeAssistant, entry: SunvecConfigEntry) -> None:
        """Create the client for the entry's account and inverter."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {entry.title}",
            update_interval=UPDATE_INTERVAL,
        )
        self.wifi_sn: str = entry.data[CONF_WIFI_SN]
        self.client = SunvecClient(
            async_get_clientsession(hass),
            entry.data[CONF_API_ADDRESS],
            entry.data[CONF_TOKEN],
        )
        self._unknown_status_codes_logged: set[str] = set()

    async def _async_update_data(self) -> SunvecData:
        """Fetch the latest record; map every client error in this one place."""
        try:
            record = await self.client.get_realtime(self.wifi_sn)
        except SunvecAuthenticationError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="invalid_auth"
            ) from err
        except SunvecRateLimitError as err:
            failure = UpdateFailed(
                translation_domain=DOMAIN, translation_key="rate_limited"
            )
            # Honoured from Home Assistant 2025.12 on, ignored before (ha-compat #2).
            failure.retry_after = RATE_LIMIT_RETRY_AFTER  # type: ignore[attr-defined]
            raise failure from err
        except SunvecConnectionError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="cannot_connect",
                translation_placeholders={"error": str(err)},
            ) from err
        except (SunvecDeviceNotAuthorizedError, SunvecNotFoundError) as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="device_unavailable",
                translation_placeholders={"wifi_sn": self.wifi_sn},
            ) from err
        except SunvecError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="api_error",
                translation_placeholders={"error": str(err)},
            ) from err
        self._warn_once_about_unknown_status(record)
        return SunvecData(
            record=record,
            upload_time=self._aware_upload_time(record),
            received_at=dt_util.utcnow(),
        )

    def _aware_upload_time(self, record: RealtimeData) -> datetime | None:
        if record.utc_upload_time is not None:
            return record.utc_upload_time
        if record.upload_time is None:
            return None
        return record.upload_time.replace(tzinfo=dt_util.get_default_time_zone())

    def _warn_once_about_unknown_status(self, record: RealtimeData) -> None:
        code = record.inverter_status_code
        if (
            code is None
            or record.inverter_status is not None
            or code in self._unknown_status_codes_logged
        ):
            return
        self._unknown_status_codes_logged.add(code)
        LOGGER.warning(
            "Inverter %s reports status code %s, which the Sunvec API documents no "
            "state for; the status sensor shows it as unknown",
            self.config_entry.title,
            code,
        )
