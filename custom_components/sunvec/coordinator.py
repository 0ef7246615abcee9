"""Runtime data and the coordinator that polls one inverter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_TOKEN
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers import issue_registry as ir, sun
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
from .models import InverterStatus, RealtimeData
from .quality import UploadClock, is_stale

type SunvecConfigEntry = ConfigEntry[SunvecCoordinator]

UPDATE_INTERVAL = timedelta(seconds=60)
NOMINAL_UPLOAD_PERIOD = 300.0
# How long to wait after a rate-limit reply before asking again (the cloud forgives
# a per-minute violation after the minute; repeated ones lock the token for longer).
RATE_LIMIT_RETRY_AFTER = 120


# An inverter that has not uploaded for this long while the sun is up gets a repair
# issue: long enough for a late morning start or a cloud hiccup, short enough to
# notice a broken Wi-Fi module on the same day.
NOT_UPLOADING_ISSUE_AFTER = timedelta(hours=2)


@dataclass(frozen=True, slots=True, kw_only=True)
class SunvecData:
    """What the entities show: the last record and when it was uploaded."""

    record: RealtimeData
    upload_time: datetime | None
    received_at: datetime

    @property
    def asleep(self) -> bool:
        """Return whether the inverter's last record says it went to sleep."""
        return self.record.inverter_status is InverterStatus.SLEEP


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
        self.clock = UploadClock(dt_util.get_default_time_zone())
        self.cadence: float = NOMINAL_UPLOAD_PERIOD
        self._unknown_status_codes_logged: set[str] = set()

    @property
    def uploading(self) -> bool:
        """Return whether the inverter's last upload is recent (not stale)."""
        upload_time = self.data.upload_time
        return upload_time is None or not is_stale(
            upload_time, dt_util.utcnow(), self.cadence
        )

    def plant_today(self) -> date:
        """Return today's date at the plant."""
        return self.clock.plant_wall(dt_util.utcnow()).date()

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
        now = dt_util.utcnow()
        data = SunvecData(
            record=record,
            upload_time=None
            if record.upload_time is None
            else self.clock.to_aware(
                record.upload_time, now=now, utc_hint=record.utc_upload_time
            ),
            received_at=now,
        )
        self._update_not_uploading_issue(data, now)
        return data

    def _update_not_uploading_issue(self, data: SunvecData, now: datetime) -> None:
        """Raise a repair issue when no upload came for hours in daylight."""
        issue_id = f"not_uploading_{self.wifi_sn}"
        if (
            data.upload_time is None
            or now - data.upload_time < NOT_UPLOADING_ISSUE_AFTER
        ):
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        if sun.is_up(self.hass):
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="not_uploading",
                translation_placeholders={
                    "name": self.config_entry.title,
                    "since": dt_util.as_local(data.upload_time).strftime(
                        "%Y-%m-%d %H:%M"
                    ),
                },
            )

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
