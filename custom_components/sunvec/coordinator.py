"""Runtime data and the coordinator that fetches one inverter's record.

The coordinator fetches when its scheduler (`PollScheduler`) lets it, maps every
client error in one place (through `errors.meaning_of`), and has each reply read
once (`ReplyReader`) into what the entities show (`SunvecData`). When time alone
changes its facts (the upload turns stale, the plant's midnight passes), it
publishes them again for the same reply.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_TOKEN
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .api import SunvecClient, SunvecError, SunvecRateLimitError
from .budget_registry import account_key
from .const import CONF_API_ADDRESS, CONF_WIFI_SN, DOMAIN, LOGGER
from .errors import Failure, meaning_of
from .models import InverterStatus, RealtimeData
from .repairs import async_update_not_uploading
from .reply import ReplyReader, SunvecData
from .scheduler import AdaptiveScheduler, CallsUsedUpError, PollScheduler, ReplyFacts

type SunvecConfigEntry = ConfigEntry[SunvecCoordinator]


class SunvecCoordinator(DataUpdateCoordinator[SunvecData]):
    """Fetches the realtime record of one inverter when its scheduler says."""

    config_entry: SunvecConfigEntry

    def __init__(self, hass: HomeAssistant, entry: SunvecConfigEntry) -> None:
        """Create the client, the upload clock and the scheduler."""
        super().__init__(
            hass, LOGGER, config_entry=entry, name=f"{DOMAIN} {entry.title}"
        )
        self.wifi_sn: str = entry.data[CONF_WIFI_SN]
        self.client = SunvecClient(
            async_get_clientsession(hass),
            entry.data[CONF_API_ADDRESS],
            entry.data[CONF_TOKEN],
        )
        self._token: str = entry.data[CONF_TOKEN]
        self.reader = ReplyReader(dt_util.get_default_time_zone(), entry.title)
        self.scheduler: PollScheduler = AdaptiveScheduler(
            hass,
            account_key(self.client.base_url, entry.data[CONF_TOKEN]),
            self.wifi_sn,
            self._start_poll,
        )
        self._unsub_facts: CALLBACK_TYPE | None = None
        self._shut_down = False

    async def _async_setup(self) -> None:
        """Wait for the account's turn before the first call: entries do not burst."""
        try:
            await self.scheduler.async_wait_first_turn()
        except CallsUsedUpError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="account_paused" if err.paused else "budget_used_up",
                translation_placeholders={"until": _local_time(err.until)},
            ) from err

    async def _async_update_data(self) -> SunvecData:
        """Fetch the record if the scheduler allows it now."""
        if not self.scheduler.claim_call():
            # A manual refresh beyond the budget: nothing fetched, nothing changes.
            if self.last_update_success or self.last_exception is None:
                return self.data
            raise self.last_exception
        try:
            record = await self.client.get_realtime(self.wifi_sn)
            return self._data_from(record, dt_util.utcnow())
        except Exception as err:  # noqa: BLE001 - whatever a poll raises, polling goes on
            failure = self._failed(err, dt_util.utcnow())
        # Raised outside the handler: nothing chains the original error, which may
        # hold anything the cloud sent.
        raise failure

    def _failed(self, err: Exception, now: datetime) -> Exception:
        """Map an error to what Home Assistant raises (it logs it once); back off."""
        meaning = meaning_of(err)
        retry_after = err.retry_after if isinstance(err, SunvecRateLimitError) else None
        wait = self.scheduler.observe_failure(
            now.timestamp(), meaning.failure, retry_after
        )
        error = (
            str(err) if isinstance(err, SunvecError) else f"{type(err).__name__}: {err}"
        ).replace(self._token, "**REDACTED**")[:300]
        if meaning.failure is Failure.AUTH:
            return ConfigEntryAuthFailed(
                translation_domain=DOMAIN,
                translation_key=meaning.key,
                translation_placeholders={"error": error, "wifi_sn": self.wifi_sn},
            )
        failed = UpdateFailed(
            translation_domain=DOMAIN,
            translation_key=meaning.key,
            translation_placeholders={"error": error, "wifi_sn": self.wifi_sn},
        )
        if wait is not None:
            # Honoured from Home Assistant 2025.12 on, ignored before (ha-compat #2).
            failed.retry_after = wait  # type: ignore[attr-defined, unused-ignore]
        return failed

    def _data_from(self, record: RealtimeData, now: datetime) -> SunvecData:
        """Read a new reply into what the entities show; plan the next poll."""
        record, upload = self.reader.read(record, now)
        self.scheduler.observe_reply(
            now.timestamp(),
            ReplyFacts(
                upload_ts=None if upload is None else upload.timestamp,
                asleep=record.inverter_status is InverterStatus.SLEEP,
                plant_keeps_our_time=not self.reader.clock.offset,
            ),
        )
        async_update_not_uploading(
            self.hass,
            self.wifi_sn,
            self.config_entry.title,
            None if upload is None else upload.instant,
            now,
        )
        return self._publishable(
            self.reader.facts(
                record,
                upload,
                received_at=now,
                now=now,
                cadence=self.scheduler.cadence,
            )
        )

    def _publishable(self, data: SunvecData) -> SunvecData:
        """Return ``data``, waking the entities again when time alone changes it."""
        if self._unsub_facts is not None:
            self._unsub_facts()
            self._unsub_facts = None
        if not self._shut_down:
            wake = self.reader.next_change(data, self.scheduler.cadence)
            self._unsub_facts = async_track_point_in_utc_time(
                self.hass, self._handle_time_passed, wake + timedelta(seconds=1)
            )
        return data

    @callback
    def _handle_time_passed(self, now: datetime) -> None:
        self._unsub_facts = None
        data = self.data
        self.data = self._publishable(
            self.reader.facts(
                data.record,
                data.upload,
                received_at=data.received_at,
                now=now,
                cadence=self.scheduler.cadence,
            )
        )
        self.async_update_listeners()

    @callback
    def _start_poll(self) -> None:
        """Start a scheduled poll in the background (the scheduler's timer)."""
        self.config_entry.async_create_background_task(
            self.hass, self.async_refresh(), name=f"{self.name} poll"
        )

    async def async_shutdown(self) -> None:
        """Stop polling and the time-driven wake-ups, also of a poll in flight."""
        self._shut_down = True
        await super().async_shutdown()
        self.scheduler.stop()
        if self._unsub_facts is not None:
            self._unsub_facts()
            self._unsub_facts = None


def _local_time(timestamp: float) -> str:
    """Return a UNIX time as Home Assistant's local time, with the date if not today."""
    local = dt_util.as_local(dt_util.utc_from_timestamp(timestamp))
    today = dt_util.as_local(dt_util.utcnow()).date()
    return local.strftime("%H:%M" if local.date() == today else "%Y-%m-%d %H:%M")
