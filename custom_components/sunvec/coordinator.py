"""Runtime data and the coordinator that polls one inverter.

Polling follows the uploads: an `UploadPolicy` learns when the inverter's next record
will be in the cloud and asks for it just then, and a `TokenBudget` shared by every
inverter polled with the same API address and token keeps the token under the cloud's
rate limits. The coordinator runs its own timer (``update_interval`` stays None); a
manual refresh (``homeassistant.update_entity``) still polls, within the budget.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
import hashlib

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_TOKEN, SUN_EVENT_SUNRISE, SUN_EVENT_SUNSET
from homeassistant.core import CALLBACK_TYPE, HassJob, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers import issue_registry as ir, sun
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.event import async_call_later, async_track_point_in_utc_time
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
from .call_history import DATA_CALL_HISTORY
from .const import CONF_API_ADDRESS, CONF_WIFI_SN, DOMAIN, LOGGER
from .models import InverterStatus, RealtimeData
from .polling import UploadPolicy
from .quality import UploadClock, is_stale, stale_after

type SunvecConfigEntry = ConfigEntry[SunvecCoordinator]

# An inverter that has not uploaded for this long while the sun is up gets a repair
# issue: long enough for a late morning start or a cloud hiccup, short enough to
# notice a broken Wi-Fi module on the same day.
NOT_UPLOADING_ISSUE_AFTER = timedelta(hours=2)
# A budget answer this close to now counts as now (timer slack).
POLL_TOLERANCE = 0.5
# The first call waits for the budget at set-up (entries starting together are spread
# out); when the budget has no call for longer than this (the day's calls used up
# before a restart), set-up is retried later instead.
SETUP_WAIT_MAX = 600.0


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


def budget_key(api_address: str, token: str) -> str:
    """Return the key of an account's budget: a digest, never the token itself."""
    return hashlib.sha256(f"{api_address}\n{token}".encode()).hexdigest()[:16]


class SunvecCoordinator(DataUpdateCoordinator[SunvecData]):
    """Polls the realtime record of one inverter when a new one is due."""

    config_entry: SunvecConfigEntry

    def __init__(self, hass: HomeAssistant, entry: SunvecConfigEntry) -> None:
        """Create the client, the policy, and join the account's call budget."""
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
        self.policy = UploadPolicy()
        self._budget_key = budget_key(self.client.base_url, entry.data[CONF_TOKEN])
        self._history = hass.data[DATA_CALL_HISTORY]
        self.budget = self._history.join(self._budget_key, self.wifi_sn)
        self._wanted: float | None = None
        self._unsub_poll: CALLBACK_TYPE | None = None
        self._unsub_time_check: CALLBACK_TYPE | None = None
        self._unknown_status_codes_logged: set[str] = set()

    @property
    def cadence(self) -> float:
        """Return the upload period the policy learned (s)."""
        return self.policy.cadence

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

    async def _async_setup(self) -> None:
        """Wait for the budget's turn before the first call: entries do not burst."""
        while True:
            now = dt_util.utcnow().timestamp()
            granted = self.budget.reserve(now, self.wifi_sn, now, 0.0)
            if granted <= now + POLL_TOLERANCE:
                return
            if granted - now > SETUP_WAIT_MAX:
                self.budget.release(self.wifi_sn)
                raise UpdateFailed(
                    translation_domain=DOMAIN,
                    translation_key="budget_used_up",
                    translation_placeholders={
                        "until": dt_util.as_local(
                            dt_util.utc_from_timestamp(granted)
                        ).strftime("%H:%M")
                    },
                )
            await asyncio.sleep(granted - now)

    async def async_shutdown(self) -> None:
        """Stop polling and leave the call budget; free it with its last inverter."""
        await super().async_shutdown()
        self._cancel_poll()
        if self._unsub_time_check is not None:
            self._unsub_time_check()
            self._unsub_time_check = None
        if self._history.leave(self._budget_key, self.wifi_sn):
            ir.async_delete_issue(self.hass, DOMAIN, self._rate_limit_issue_id)

    @property
    def _rate_limit_issue_id(self) -> str:
        return f"rate_limited_{self._budget_key}"

    async def _async_update_data(self) -> SunvecData:
        """Poll if the budget allows it now; plan the next poll in any case."""
        now = dt_util.utcnow().timestamp()
        granted = self._reserve(now)
        if granted > now + POLL_TOLERANCE and self.data is not None:
            # A manual refresh beyond the token's budget: nothing is fetched and
            # nothing changes, neither the data nor a failure state.
            LOGGER.debug("%s: call budget used up until %s", self.name, granted)
            self._schedule_poll(granted)
            if self.last_update_success or self.last_exception is None:
                return self.data
            raise self.last_exception
        self.budget.record_call(now, self.wifi_sn)
        self._history.async_schedule_save()
        try:
            data = await self._async_fetch()
        except ConfigEntryAuthFailed:
            self._cancel_poll()
            raise
        except UpdateFailed:
            self._plan_next_poll()
            raise
        self._plan_next_poll()
        return data

    def _reserve(self, now: float) -> float:
        """Ask the budget when the call the policy wants may be made."""
        wanted = now if self._wanted is None else min(self._wanted, now)
        return self.budget.reserve(
            now, self.wifi_sn, wanted, self.policy.staleness_priority(now)
        )

    async def _async_fetch(self) -> SunvecData:
        """Fetch the latest record; map every client error in this one place."""
        try:
            record = await self.client.get_realtime(self.wifi_sn)
        except SunvecAuthenticationError as err:
            raise ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="invalid_auth"
            ) from err
        except SunvecRateLimitError as err:
            raise self._rate_limited() from err
        except SunvecError as err:
            self.budget.on_success()
            self.policy.observe_error(dt_util.utcnow().timestamp())
            raise _update_failed(err, self.wifi_sn) from err
        self.budget.on_success()
        ir.async_delete_issue(self.hass, DOMAIN, self._rate_limit_issue_id)
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
        self.policy.observe_record(
            now.timestamp(), _policy_timestamp(record), asleep=data.asleep
        )
        self._update_not_uploading_issue(data, now)
        self._schedule_time_check(data, now)
        return data

    def _schedule_time_check(self, data: SunvecData, now: datetime) -> None:
        """Wake the entities when time alone changes what they show.

        Between polls (none at all while the inverter sleeps at night) the last upload
        turns stale, and the plant's midnight resets yield today.
        """
        if self._unsub_time_check is not None:
            self._unsub_time_check()
        plant_now = self.clock.plant_wall(now)
        next_midnight = datetime.combine(plant_now.date() + timedelta(days=1), time())
        when = now + (next_midnight - plant_now)
        if data.upload_time is not None:
            turns_stale = data.upload_time + stale_after(self.cadence)
            if now < turns_stale < when:
                when = turns_stale
        self._unsub_time_check = async_track_point_in_utc_time(
            self.hass, self._handle_time_check, when + timedelta(seconds=1)
        )

    @callback
    def _handle_time_check(self, now: datetime) -> None:
        self._unsub_time_check = None
        self.async_update_listeners()
        if self.data is not None:
            self._schedule_time_check(self.data, now)

    def _rate_limited(self) -> UpdateFailed:
        """Pause the whole token, raise a repair issue if it persists."""
        now = dt_util.utcnow().timestamp()
        paused_until = self.budget.on_rate_limited(now)
        self.policy.observe_error(now, rate_limited=True)
        if self.budget.rate_limit_persists:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self._rate_limit_issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key="rate_limited",
                translation_placeholders={
                    "names": ", ".join(
                        entry.title
                        for entry in self.hass.config_entries.async_loaded_entries(
                            DOMAIN
                        )
                        if entry.runtime_data.budget is self.budget
                    )
                    or self.config_entry.title,
                    "count": str(self.budget.consecutive_rate_limits),
                    "until": dt_util.as_local(
                        dt_util.utc_from_timestamp(paused_until)
                    ).strftime("%H:%M"),
                },
            )
        failure = UpdateFailed(
            translation_domain=DOMAIN,
            translation_key="rate_limited",
        )
        # Honoured from Home Assistant 2025.12 on, ignored before (ha-compat #2).
        failure.retry_after = max(paused_until - now, 0.0)  # type: ignore[attr-defined]
        return failure

    def _plan_next_poll(self) -> None:
        """Ask the policy when the next record is due and the budget when we may ask."""
        now = dt_util.utcnow().timestamp()
        if self.clock.offset:
            # The plant keeps another zone's time: Home Assistant's sun is not its.
            self.policy.set_daylight_hint(None, sun.is_up(self.hass))
        else:
            sunrise = sun.get_astral_event_next(self.hass, SUN_EVENT_SUNRISE)
            sunset = sun.get_astral_event_next(self.hass, SUN_EVENT_SUNSET)
            self.policy.set_daylight_hint(
                sunrise.timestamp(), sun.is_up(self.hass), sunset.timestamp()
            )
        self.policy.set_thrifty(self.budget.under_pressure)
        wanted = max(self.policy.next_poll(now), self.budget.paused_until)
        self._wanted = wanted
        granted = self.budget.reserve(
            now, self.wifi_sn, wanted, self.policy.staleness_priority(now)
        )
        self._schedule_poll(granted)

    def _schedule_poll(self, when: float) -> None:
        self._cancel_poll()
        delay = max(when - dt_util.utcnow().timestamp(), 0.0)
        self._unsub_poll = async_call_later(
            self.hass,
            delay,
            HassJob(self._handle_poll_timer, cancel_on_shutdown=True),
        )

    @callback
    def _cancel_poll(self) -> None:
        if self._unsub_poll is not None:
            self._unsub_poll()
            self._unsub_poll = None

    @callback
    def _handle_poll_timer(self, _now: datetime) -> None:
        """Poll when the budget still agrees; its plan may have moved since."""
        self._unsub_poll = None
        now = dt_util.utcnow().timestamp()
        if (granted := self._reserve(now)) > now + POLL_TOLERANCE:
            self._schedule_poll(granted)
            return
        self.config_entry.async_create_background_task(
            self.hass, self.async_refresh(), name=f"{self.name} poll"
        )

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


def _policy_timestamp(record: RealtimeData) -> float | None:
    """Return the upload instant as read in Home Assistant's zone, unclamped.

    The policy learns any constant offset itself, so it gets the raw reading rather
    than the display time (which is clamped to now).
    """
    if record.utc_upload_time is not None:
        return record.utc_upload_time.timestamp()
    if record.upload_time is None:
        return None
    return record.upload_time.replace(
        tzinfo=dt_util.get_default_time_zone()
    ).timestamp()


def _update_failed(err: SunvecError, wifi_sn: str) -> UpdateFailed:
    """Translate a client error into the coordinator's failure."""
    if isinstance(err, SunvecConnectionError):
        return UpdateFailed(
            translation_domain=DOMAIN,
            translation_key="cannot_connect",
            translation_placeholders={"error": str(err)},
        )
    if isinstance(err, SunvecDeviceNotAuthorizedError | SunvecNotFoundError):
        return UpdateFailed(
            translation_domain=DOMAIN,
            translation_key="device_unavailable",
            translation_placeholders={"wifi_sn": wifi_sn},
        )
    return UpdateFailed(
        translation_domain=DOMAIN,
        translation_key="api_error",
        translation_placeholders={"error": str(err)},
    )
