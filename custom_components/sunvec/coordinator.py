"""Runtime data and the coordinator that fetches one inverter's record.

The coordinator fetches when its scheduler (`PollScheduler`) lets it, maps every
client error in one place (through `errors.meaning_of`), and builds what the
entities show once per reply: `SunvecData`, with the upload instant from the
upload clock and the facts derived from it (stale, the plant's today). When time
alone changes those facts (the upload turns stale, the plant's midnight passes),
it publishes them again for the same record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

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
from .scheduler import AdaptiveScheduler, CallsUsedUpError, PollScheduler, ReplyFacts
from .upload_clock import UploadClock, UploadTime, is_stale, stale_after

type SunvecConfigEntry = ConfigEntry[SunvecCoordinator]


@dataclass(frozen=True, slots=True, kw_only=True)
class SunvecData:
    """What the entities show: the last record, its upload, and the facts at `as_of`."""

    record: RealtimeData
    upload: UploadTime | None
    """When the record was uploaded; None for a record without a usable time."""
    received_at: datetime
    """When the reply came: a new value here is a new reply."""
    as_of: datetime
    """The instant the facts below describe."""
    stale: bool
    """Whether the upload is too old for live values (never for an undated one)."""
    plant_today: date
    """The plant's date."""

    @property
    def asleep(self) -> bool:
        """Return whether the inverter's last record says it went to sleep."""
        return self.record.inverter_status is InverterStatus.SLEEP


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
        self.clock = UploadClock(dt_util.get_default_time_zone())
        self.scheduler: PollScheduler = AdaptiveScheduler(
            hass,
            account_key(self.client.base_url, entry.data[CONF_TOKEN]),
            self.wifi_sn,
            self._start_poll,
        )
        self._unsub_facts: CALLBACK_TYPE | None = None

    async def _async_setup(self) -> None:
        """Wait for the account's turn before the first call: entries do not burst."""
        try:
            await self.scheduler.async_wait_first_turn()
        except CallsUsedUpError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="budget_used_up",
                translation_placeholders={
                    "until": dt_util.as_local(
                        dt_util.utc_from_timestamp(err.until)
                    ).strftime("%H:%M")
                },
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
        except SunvecError as err:
            raise self._failed(err, dt_util.utcnow()) from err
        return self._data_from(record, dt_util.utcnow())

    def _failed(self, err: SunvecError, now: datetime) -> Exception:
        """Map a client error to what Home Assistant raises, and back off."""
        meaning = meaning_of(err)
        retry_after = (
            getattr(err, "retry_after", None)
            if isinstance(err, SunvecRateLimitError)
            else None
        )
        wait = self.scheduler.observe_failure(
            now.timestamp(), meaning.failure, retry_after
        )
        if meaning.failure is Failure.AUTH:
            return ConfigEntryAuthFailed(
                translation_domain=DOMAIN,
                translation_key=meaning.key,
                translation_placeholders={"error": str(err), "wifi_sn": self.wifi_sn},
            )
        failed = UpdateFailed(
            translation_domain=DOMAIN,
            translation_key=meaning.key,
            translation_placeholders={"error": str(err), "wifi_sn": self.wifi_sn},
        )
        if wait is not None:
            # Honoured from Home Assistant 2025.12 on, ignored before (ha-compat #2).
            failed.retry_after = wait  # type: ignore[attr-defined]
        return failed

    def _data_from(self, record: RealtimeData, now: datetime) -> SunvecData:
        """Build what the entities show from a new reply; plan the next poll."""
        upload = (
            None
            if record.upload_time is None
            else self.clock.read(
                record.upload_time, now=now, hint=record.utc_upload_time
            )
        )
        self.scheduler.observe_reply(
            now.timestamp(),
            ReplyFacts(
                upload_ts=None if upload is None else upload.timestamp,
                asleep=record.inverter_status is InverterStatus.SLEEP,
                plant_keeps_our_time=not self.clock.offset,
            ),
        )
        async_update_not_uploading(
            self.hass,
            self.wifi_sn,
            self.config_entry.title,
            None if upload is None else upload.instant,
            now,
        )
        return self._facts_at(record, upload, received_at=now, now=now)

    def _facts_at(
        self,
        record: RealtimeData,
        upload: UploadTime | None,
        *,
        received_at: datetime,
        now: datetime,
    ) -> SunvecData:
        """Return what the entities show of a reply at ``now``.

        Wakes the entities again when time alone changes it: between polls (none
        at all while the inverter sleeps) the upload turns stale, and the plant's
        midnight resets yield today.
        """
        cadence = self.scheduler.cadence
        wake = self.clock.next_plant_midnight(now)
        if (
            upload is not None
            and now < (stale_at := upload.instant + stale_after(cadence)) < wake
        ):
            wake = stale_at
        if self._unsub_facts is not None:
            self._unsub_facts()
        self._unsub_facts = async_track_point_in_utc_time(
            self.hass, self._handle_time_passed, wake + timedelta(seconds=1)
        )
        return SunvecData(
            record=record,
            upload=upload,
            received_at=received_at,
            as_of=now,
            stale=upload is not None and is_stale(upload.instant, now, cadence),
            plant_today=self.clock.plant_today(now),
        )

    @callback
    def _handle_time_passed(self, now: datetime) -> None:
        self._unsub_facts = None
        data = self.data
        self.data = self._facts_at(
            data.record, data.upload, received_at=data.received_at, now=now
        )
        self.async_update_listeners()

    @callback
    def _start_poll(self) -> None:
        """Start a scheduled poll in the background (the scheduler's timer)."""
        self.config_entry.async_create_background_task(
            self.hass, self.async_refresh(), name=f"{self.name} poll"
        )

    async def async_shutdown(self) -> None:
        """Stop polling and the time-driven wake-ups."""
        await super().async_shutdown()
        self.scheduler.stop()
        if self._unsub_facts is not None:
            self._unsub_facts()
            self._unsub_facts = None
