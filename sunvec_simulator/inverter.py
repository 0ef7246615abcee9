"""A simulated inverter: its plant, its upload schedule and the records it stores in the cloud."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
import hashlib
import math
import random
from typing import Any
from zoneinfo import ZoneInfo

from .faults import UPLOAD_TIME_STYLES, ActiveFault, Fault
from .physics import DAY, Battery, Plant, PlantConfig, Sample, solar_day

RECORD_KEYS = (
    "inverterSN",
    "sn",
    "acpower",
    "yieldtoday",
    "yieldtotal",
    "feedinpower",
    "feedinenergy",
    "consumeenergy",
    "feedinpowerM2",
    "soc",
    "peps1",
    "peps2",
    "peps3",
    "inverterType",
    "inverterStatus",
    "uploadTime",
    "batPower",
    "powerdc1",
    "powerdc2",
    "powerdc3",
    "powerdc4",
    "batStatus",
)
"""The keys of the vendor's example ``result``, in its order."""

UPLOAD_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

STATUS_WAITING = "100"
STATUS_NORMAL = "102"
STATUS_SLEEP = "109"

_COUNTER_RESOLUTION = {"yieldtotal": 1, "feedinenergy": 2, "consumeenergy": 2}
"""Decimals each lifetime counter is reported with."""


class InverterKind(StrEnum):
    """The inverter models the simulator knows."""

    GRID_TIED = "grid_tied"
    HYBRID = "hybrid"
    THREE_PHASE = "three_phase"


@dataclass(frozen=True, slots=True)
class _Model:
    inverter_type: str
    serial_prefix: str
    strings: int
    battery: bool
    eps_phases: int
    meter2: bool


# Neither part of the API document lists type codes except "4" for the example's grid-tied
# single-phase inverter; the others are placeholders the integration must not rely on.
_MODELS = {
    InverterKind.GRID_TIED: _Model(
        "4", "H34", strings=2, battery=False, eps_phases=0, meter2=False
    ),
    InverterKind.HYBRID: _Model(
        "15", "H1H", strings=2, battery=True, eps_phases=1, meter2=False
    ),
    InverterKind.THREE_PHASE: _Model(
        "16", "H3T", strings=4, battery=False, eps_phases=0, meter2=True
    ),
}


@dataclass(frozen=True)
class Upload:
    """One record the inverter stored in the cloud."""

    available_at: datetime
    """Aware UTC: from this instant the cloud returns the record."""
    upload_time: datetime
    """Naive plant-local time, as sent in ``uploadTime``."""
    record: dict[str, Any]
    """The reply's ``result`` object, before any reply-level fault."""


@dataclass(frozen=True, slots=True)
class UploadSchedule:
    """When inverters upload (shared settings of one cloud)."""

    seed: int
    interval: float
    jitter: float
    missed_probability: float


@dataclass
class _Attempt:
    index: int
    instant: int


def _unit_pair(*parts: object) -> tuple[float, float]:
    """Two uniform numbers in [0, 1) determined by ``parts`` alone."""
    digest = hashlib.blake2b(
        "|".join(map(str, parts)).encode(), digest_size=16
    ).digest()
    return (
        int.from_bytes(digest[:8], "big") / 2.0**64,
        int.from_bytes(digest[8:], "big") / 2.0**64,
    )


def _to_timestamp(when: datetime) -> float:
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("use aware datetimes")
    return when.timestamp()


class SimulatedInverter:
    """One inverter on the simulated cloud (create it with ``SunvecCloud.add_inverter``)."""

    def __init__(
        self,
        *,
        token: str,
        wifi_sn: str,
        kind: InverterKind,
        inverter_sn: str | None,
        timezone: ZoneInfo,
        latitude: float,
        longitude: float,
        peak_power_w: float,
        schedule: UploadSchedule,
        clock: Callable[[], datetime],
    ) -> None:
        """Set the inverter up; its plant is simulated lazily from ``clock()`` on."""
        self.token = token
        self.wifi_sn = wifi_sn
        self.kind = InverterKind(kind)
        self.timezone = timezone
        self.latitude = latitude
        self.longitude = longitude
        self.peak_power_w = peak_power_w
        self._clock = clock
        self._schedule = schedule
        model = _MODELS[self.kind]
        self._model = model
        self.inverter_type = model.inverter_type
        rng = random.Random(f"{schedule.seed}|{wifi_sn}")
        self.inverter_sn = (
            inverter_sn or f"{model.serial_prefix}{rng.randrange(10**10):010d}"
        )
        years = rng.uniform(0.3, 8.0)
        self.initial_yield_total = round(peak_power_w / 1000.0 * 900.0 * years, 1)
        self.initial_feed_in = round(
            self.initial_yield_total * rng.uniform(0.45, 0.7), 2
        )
        self.initial_consumption = round(years * rng.uniform(2_000.0, 4_000.0), 2)
        shares = [rng.uniform(0.8, 1.2) for _ in range(model.strings)]
        self._string_shares = tuple(share / sum(shares) for share in shares)
        self._phase = rng.uniform(0.0, schedule.interval)
        self._jitter = min(schedule.jitter, 0.45 * schedule.interval)
        self.battery = Battery() if model.battery else None
        config = PlantConfig.generate(
            rng,
            timezone=timezone,
            latitude=latitude,
            longitude=longitude,
            peak_power_w=peak_power_w,
            battery=self.battery,
        )
        self.created = clock()
        self._plant = Plant(
            config,
            created=math.floor(_to_timestamp(self.created)),
            first_upload=self._first_attempt,
            on_upload=self._on_attempt,
        )
        self._attempt = _Attempt(0, 0)
        self._asleep = not model.battery
        self._uploads: list[Upload] = []
        self._instants: list[int] = []
        self._faults: list[ActiveFault] = []

    # -- what tests and the cloud ask -------------------------------------------------------

    def uploads(self, until: datetime | None = None) -> list[Upload]:
        """Every upload available at ``until`` (default: now), simulating up to it first."""
        target = math.floor(
            _to_timestamp(until if until is not None else self._clock())
        )
        self.advance(target)
        return self._uploads[: bisect_right(self._instants, target)]

    def energy_truth(self, start: datetime, end: datetime) -> dict[str, float]:
        """Exact energies in kWh between ``start`` and ``end`` (both after creation)."""
        end_ts = _to_timestamp(end)
        self.advance(math.ceil(end_ts))
        return self._plant.truth(_to_timestamp(start), end_ts)

    def sun_times(self, day: date) -> tuple[datetime, datetime] | None:
        """Sunrise and sunset (aware UTC) on a local day of the plant; None: polar day/night."""
        midnight = datetime.combine(day, time(), tzinfo=self.timezone).timestamp()
        times = solar_day(
            day, self.latitude, self.longitude, round(midnight) + DAY // 2
        ).sunrise_sunset()
        if times is None:
            return None
        return datetime.fromtimestamp(times[0], UTC), datetime.fromtimestamp(
            times[1], UTC
        )

    def advance(self, target: int) -> None:
        """Simulate up to Unix time ``target``."""
        self._plant.advance(target)

    def latest(self, now: int) -> Upload | None:
        """The record the cloud returns at Unix time ``now``."""
        self.advance(now)
        index = bisect_right(self._instants, now)
        return self._uploads[index - 1] if index else None

    def add_fault(self, fault: ActiveFault, now: datetime) -> None:
        """Apply a record-level fault from the next upload on (the plant is at ``now``)."""
        self.advance(math.floor(now.timestamp()))
        if fault.fault is Fault.YESTERDAY_YIELD_TODAY:
            fault.params["after"] = now.astimezone(self.timezone).date()
        self._faults.append(fault)

    def clear_faults(self, now: datetime) -> None:
        """Drop every record-level fault (the plant is at ``now``)."""
        self.advance(math.floor(now.timestamp()))
        self._faults.clear()

    @property
    def active_faults(self) -> list[ActiveFault]:
        """Record-level faults still in force."""
        return list(self._faults)

    # -- the upload schedule ----------------------------------------------------------------

    def _slot(self, index: int) -> tuple[int, bool]:
        """Instant and whether it is missed, for the ``index``-th upload slot since the epoch."""
        jitter_draw, miss_draw = _unit_pair(self._schedule.seed, self.wifi_sn, index)
        instant = round(
            self._phase
            + index * self._schedule.interval
            + (2.0 * jitter_draw - 1.0) * self._jitter
        )
        return instant, miss_draw < self._schedule.missed_probability

    def _next_attempt(self, index: int, not_before: int) -> int:
        while True:
            instant, missed = self._slot(index)
            if instant >= not_before and not missed:
                self._attempt = _Attempt(index, instant)
                return instant
            index += 1

    def _first_attempt(self, start: int) -> int:
        first = math.floor((start - self._phase) / self._schedule.interval) - 1
        return self._next_attempt(first, start)

    def _on_attempt(self, sample: Sample) -> int:
        attempt = self._attempt
        status = self._status(sample)
        if status is not None and not self._stopped():
            self._store(sample, status)
        return self._next_attempt(attempt.index + 1, attempt.instant + 1)

    def _status(self, sample: Sample) -> str | None:
        """Run the sleep logic; the status to upload, or None when asleep."""
        if self._model.battery:
            return STATUS_NORMAL
        threshold = self._plant.config.threshold_w
        morning = sample.at < sample.solar_noon
        if self._asleep:
            if not morning or sample.available_pv_w < threshold / 2.0:
                return None
            self._asleep = False
            return (
                STATUS_WAITING if sample.available_pv_w < threshold else STATUS_NORMAL
            )
        if sample.available_pv_w >= threshold:
            return STATUS_NORMAL
        if morning:
            return STATUS_WAITING
        self._asleep = True
        return STATUS_SLEEP

    # -- records ----------------------------------------------------------------------------

    def _stopped(self) -> bool:
        return any(fault.fault is Fault.UPLOADS_STOPPED for fault in self._faults)

    def _store(self, sample: Sample, status: str) -> None:
        local = datetime.fromtimestamp(sample.at, self.timezone)
        record = self._record(sample, status)
        shift = self._apply_faults(record, sample, local.date())
        upload_time = local.replace(tzinfo=None) + shift
        record["uploadTime"] = self._upload_time_text(local + shift)
        self._uploads.append(
            Upload(
                available_at=datetime.fromtimestamp(sample.at, UTC),
                upload_time=upload_time,
                record=record,
            )
        )
        self._instants.append(sample.at)

    def _record(self, sample: Sample, status: str) -> dict[str, Any]:
        model = self._model
        strings: list[int | None] = [
            round(sample.pv_w * share) for share in self._string_shares
        ]
        strings += [None] * (4 - len(strings))
        eps: list[int | None] = [0] * model.eps_phases + [None] * (3 - model.eps_phases)
        has_battery = sample.soc_percent is not None
        values: dict[str, Any] = {
            "inverterSN": self.inverter_sn,
            "sn": self.wifi_sn,
            "acpower": round(sample.ac_w),
            "yieldtoday": round(sample.yield_today_kwh, 1),
            "yieldtotal": round(self.initial_yield_total + sample.ac_kwh, 1),
            "feedinpower": round(sample.grid_w),
            "feedinenergy": round(self.initial_feed_in + sample.export_kwh, 2),
            "consumeenergy": round(self.initial_consumption + sample.import_kwh, 2),
            "feedinpowerM2": 0 if model.meter2 else None,
            "soc": round(sample.soc_percent)
            if sample.soc_percent is not None
            else None,
            "peps1": eps[0],
            "peps2": eps[1],
            "peps3": eps[2],
            "inverterType": self.inverter_type,
            "inverterStatus": status,
            "uploadTime": "",
            "batPower": round(sample.battery_w) if has_battery else None,
            "powerdc1": strings[0],
            "powerdc2": strings[1],
            "powerdc3": strings[2],
            "powerdc4": strings[3],
            "batStatus": "0" if has_battery else None,
        }
        return {key: values[key] for key in RECORD_KEYS}

    def _upload_time_text(self, local: datetime) -> str:
        """``uploadTime`` as documented, or in the shape UPLOAD_TIME_FORMAT asks for."""
        for fault in self._faults:
            if fault.fault is Fault.UPLOAD_TIME_FORMAT:
                if fault.params["style"] == "garbage":
                    return str(fault.params["text"])
                return local.strftime(UPLOAD_TIME_STYLES[fault.params["style"]])
        return local.strftime(UPLOAD_TIME_FORMAT)

    def _apply_faults(
        self, record: dict[str, Any], sample: Sample, local_day: date
    ) -> timedelta:
        """Apply record-level faults to ``record``; return how far to shift ``uploadTime``."""
        shift = timedelta()
        for fault in self._faults:
            kind = fault.fault
            if kind is Fault.FUTURE_UPLOAD_TIME:
                shift += timedelta(hours=fault.params["hours"])
                continue
            if kind in (Fault.UPLOADS_STOPPED, Fault.UPLOAD_TIME_FORMAT):
                continue
            if kind is Fault.COUNTER_ZERO:
                record[fault.params["field"]] = 0.0
            elif kind is Fault.COUNTER_LOWER:
                name = fault.params["field"]
                decimals = _COUNTER_RESOLUTION[name]
                amount = fault.params["amount"] or max(
                    10.0**-decimals, round(record[name] * 0.01, decimals)
                )
                record[name] = round(max(record[name] - amount, 0.0), decimals)
            elif kind is Fault.YESTERDAY_YIELD_TODAY:
                if (
                    local_day <= fault.params["after"]
                    or sample.yield_yesterday_kwh is None
                ):
                    continue
                record["yieldtoday"] = round(sample.yield_yesterday_kwh, 1)
            elif kind is Fault.UNKNOWN_STATUS:
                record["inverterStatus"] = fault.params["code"]
            elif kind is Fault.ABSURD_VALUE:
                record[fault.params["field"]] = fault.params["value"]
            fault.use()
        self._faults = [fault for fault in self._faults if not fault.spent]
        return shift
