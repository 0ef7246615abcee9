"""What one reply means: `SunvecData`, and the `ReplyReader` that builds it.

A reply enters here once: its readings are checked (`guards.plausible_record`), its
``uploadTime`` becomes the one upload instant every consumer uses (through the
`UploadClock`), and the facts that follow from it are derived once: whether the
upload is stale, and the plant's today. Nothing downstream reads a clock or a zone
of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from enum import StrEnum

from .const import LOGGER
from .guards import plausible_record
from .models import InverterStatus, RealtimeData
from .upload_clock import (
    ImplausibleTimeError,
    UploadClock,
    UploadTime,
    is_stale,
    stale_after,
)


class UploadState(StrEnum):
    """Whether the inverter's records reach the cloud, as a user reads it."""

    UPLOADING = "uploading"
    """The last upload is recent."""
    ASLEEP = "asleep"
    """The inverter went to sleep (at night, normally): no uploads until it wakes."""
    NOT_UPLOADING = "not_uploading"
    """No upload for three upload periods, and the inverter did not go to sleep."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SunvecData:
    """What the entities show: the last record, its upload, and the facts at `as_of`."""

    record: RealtimeData
    """The record, with every reading that cannot be true made missing."""
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

    @property
    def upload_state(self) -> UploadState | None:
        """Return whether records reach the cloud (None for an undated record)."""
        if self.asleep:
            return UploadState.ASLEEP
        if self.upload is None:
            return None
        return UploadState.NOT_UPLOADING if self.stale else UploadState.UPLOADING


class ReplyReader:
    """Reads the replies of one inverter, and says when their facts change."""

    def __init__(self, zone: tzinfo, name: str) -> None:
        """Read wall times in ``zone`` (Home Assistant's) until the clock learns.

        Args:
            zone: Home Assistant's time zone.
            name: The inverter's name, for the log.
        """
        self._name = name
        self._warned: set[str] = set()
        self.clock = UploadClock(zone, self.warn_once)

    def warn_once(self, kind: str, message: str) -> None:
        """Log a warning the first time something of this kind happens."""
        if kind not in self._warned:
            self._warned.add(kind)
            LOGGER.warning("%s: %s", self._name, message)

    def read(
        self, record: RealtimeData, now: datetime
    ) -> tuple[RealtimeData, UploadTime | None]:
        """Return a new reply's record made plausible, and when it was uploaded."""
        record, dropped = plausible_record(record)
        for name in dropped:
            self.warn_once(
                f"implausible {name}",
                f"the cloud reported a {name} that no inverter can produce; it is "
                "shown as unknown",
            )
        if (unparsed := record.unparsed_upload_time) is not None:
            self.warn_once(
                "unparsed time",
                f"the upload time {unparsed!r} has no shape we know; such records "
                "are treated as undated",
            )
        if record.upload_time is None:
            return record, None
        try:
            upload = self.clock.read(
                record.upload_time, now=now, hint=record.utc_upload_time
            )
        except ImplausibleTimeError as err:
            self.warn_once("implausible time", f"{err}; the record is undated")
            return record, None
        return record, upload

    def facts(
        self,
        record: RealtimeData,
        upload: UploadTime | None,
        *,
        received_at: datetime,
        now: datetime,
        cadence: float,
    ) -> SunvecData:
        """Return what the entities show of a reply at ``now``.

        Args:
            record: The record, as `read` returned it.
            upload: Its upload, as `read` returned it.
            received_at: When the reply came.
            now: The instant to describe.
            cadence: The upload period (s) the scheduler knows of.
        """
        return SunvecData(
            record=record,
            upload=upload,
            received_at=received_at,
            as_of=now,
            stale=upload is not None and is_stale(upload.instant, now, cadence),
            plant_today=self.clock.plant_today(now),
        )

    def next_change(self, data: SunvecData, cadence: float) -> datetime:
        """Return when time alone next changes the facts of ``data``.

        Between polls (none at all while the inverter sleeps) the upload turns
        stale, and the plant's midnight resets yield today.
        """
        wake = self.clock.next_plant_midnight(data.as_of)
        if data.upload is not None:
            stale_at = data.upload.instant + stale_after(cadence)
            if data.as_of < stale_at < wake:
                return stale_at
        return wake
