"""The physical plant behind a simulated inverter: sun, clouds, household, battery.

Power is piecewise constant over fixed steps of ``STEP`` seconds on a global grid (multiples of
``STEP`` since the Unix epoch), so the state at any instant is the same whatever the order in
which the simulation is asked about it. The state is integrated lazily, only when someone asks
about a later instant; ``Plant.truth`` returns the exact integrals of those steps.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
import math
import random
from zoneinfo import ZoneInfo

STEP = 10
"""Integration step in seconds; local midnights and DST changes fall on this grid."""
WARMUP_STEP = 60
"""Coarser step used before the plant is created, to reach a plausible state fast."""

INVERTER_EFFICIENCY = 0.95
"""DC to AC conversion."""
BATTERY_EFFICIENCY = 0.96
"""One way: charging stores 96 % of the terminal energy, discharging gives 96 % of the stored."""

DAY = 86_400
_OMEGA_DAY = 2.0 * math.pi / DAY
_PV_EXPONENT = 1.15
"""Output grows a little faster than the sine of the sun's elevation (air mass, angle)."""
_WATT_SECONDS_PER_KWH = 3_600_000.0


def _periodic_bump(hour: float, centre: float, width: float) -> float:
    """A bell around ``centre`` o'clock that wraps around midnight."""
    distance = (hour - centre + 12.0) % 24.0 - 12.0
    return math.exp(-0.5 * (distance / width) ** 2)


def _household_profile(hour: float) -> float:
    """Typical household consumption in W at a local time of day (about 10 kWh a day)."""
    return (
        200.0
        + 450.0 * _periodic_bump(hour, 7.3, 0.8)
        + 250.0 * _periodic_bump(hour, 12.5, 1.5)
        + 850.0 * _periodic_bump(hour, 18.8, 1.6)
        + 300.0 * _periodic_bump(hour, 21.5, 1.2)
    )


LOAD_PROFILE: tuple[float, ...] = tuple(
    _household_profile(index * STEP / 3600.0) for index in range(DAY // STEP)
)
"""Household consumption in W for each ``STEP`` of a local day."""


@dataclass(frozen=True, slots=True)
class SolarDay:
    """Where the sun is on one local day of a plant."""

    solar_noon: int
    """Unix time of the sun's highest point."""
    sin_product: float
    """sin(latitude) * sin(declination)."""
    cos_product: float
    """cos(latitude) * cos(declination)."""

    def sunrise_sunset(self) -> tuple[int, int] | None:
        """Unix times at which the sun's centre crosses the horizon; None: polar day or night."""
        if self.cos_product == 0.0:
            return None
        cos_half_day = -self.sin_product / self.cos_product
        if not -1.0 < cos_half_day < 1.0:
            return None
        half_day = math.acos(cos_half_day) / _OMEGA_DAY
        return round(self.solar_noon - half_day), round(self.solar_noon + half_day)


def solar_day(
    local_day: date, latitude: float, longitude: float, local_noon: int
) -> SolarDay:
    """Compute the sun's path on ``local_day`` with the usual low-precision formulas.

    Declination and equation of time from the day of the year (errors of a few minutes,
    plenty for a simulator). ``local_noon`` picks which UTC day's solar noon is meant when the
    plant's zone is far from its longitude.
    """
    day_of_year = local_day.timetuple().tm_yday
    declination = math.radians(-23.44) * math.cos(
        2.0 * math.pi / 365.0 * (day_of_year + 10)
    )
    angle = 2.0 * math.pi * (day_of_year - 81) / 364.0
    equation_of_time = (
        9.87 * math.sin(2.0 * angle) - 7.53 * math.cos(angle) - 1.5 * math.sin(angle)
    )
    utc_midnight = datetime.combine(local_day, time(), tzinfo=UTC).timestamp()
    noon = utc_midnight + (720.0 - 4.0 * longitude - equation_of_time) * 60.0
    noon += round((local_noon - noon) / DAY) * DAY
    phi = math.radians(latitude)
    return SolarDay(
        solar_noon=round(noon),
        sin_product=math.sin(phi) * math.sin(declination),
        cos_product=math.cos(phi) * math.cos(declination),
    )


@dataclass(frozen=True, slots=True)
class Battery:
    """A battery on the inverter's DC bus."""

    capacity_wh: float = 10_000.0
    min_soc: float = 0.10
    max_soc: float = 1.00
    max_power_w: float = 5_000.0


@dataclass(frozen=True, slots=True)
class PlantConfig:
    """Everything fixed about one plant."""

    timezone: ZoneInfo
    latitude: float
    longitude: float
    peak_power_w: float
    battery: Battery | None
    initial_soc: float
    """Fraction, at the start of the simulation."""
    load_scale: float
    """This household's consumption relative to ``LOAD_PROFILE``."""
    load_wiggle: tuple[float, float, float]
    """Amplitude (W), angular frequency (rad/s) and phase of a slow wander of the load."""
    cloud_base: float
    cloud_terms: tuple[tuple[float, float, float], ...]
    """Amplitude, angular frequency (rad/s) and phase of each slow cloudiness wave."""
    threshold_w: float
    """Without a battery, the inverter takes nothing from panels giving less than this."""

    @classmethod
    def generate(
        cls,
        rng: random.Random,
        *,
        timezone: ZoneInfo,
        latitude: float,
        longitude: float,
        peak_power_w: float,
        battery: Battery | None,
    ) -> PlantConfig:
        """Draw a plausible weather and household for a plant from ``rng``."""

        def wave(
            amplitude: float, shortest_s: float, longest_s: float
        ) -> tuple[float, float, float]:
            period = rng.uniform(shortest_s, longest_s)
            return amplitude, 2.0 * math.pi / period, rng.uniform(0.0, 2.0 * math.pi)

        return cls(
            timezone=timezone,
            latitude=latitude,
            longitude=longitude,
            peak_power_w=peak_power_w,
            battery=battery,
            initial_soc=rng.uniform(0.35, 0.75),
            load_scale=rng.uniform(0.7, 1.3),
            load_wiggle=wave(rng.uniform(40.0, 90.0), 1_800.0, 3_600.0),
            cloud_base=rng.uniform(0.62, 0.72),
            cloud_terms=(
                wave(0.18, 2.5 * DAY, 4.5 * DAY),  # fronts passing over days
                wave(0.14, 4.0 * 3600, 8.0 * 3600),
                wave(0.11, 1.5 * 3600, 2.5 * 3600),
                wave(0.06, 2_400.0, 3_600.0),  # the shortest wave lasts 40-60 minutes
            ),
            threshold_w=max(20.0, 0.01 * peak_power_w),
        )


@dataclass(frozen=True, slots=True)
class Sample:
    """The plant at one instant (power in W, energy in kWh)."""

    at: int
    """Unix time."""
    available_pv_w: float
    """What the panels could give."""
    pv_w: float
    """What the inverter takes from them."""
    ac_w: float
    load_w: float
    battery_w: float
    """Battery terminal power, positive while charging."""
    soc_percent: float | None
    ac_kwh: float
    """AC energy since the start of the simulation."""
    export_kwh: float
    import_kwh: float
    yield_today_kwh: float
    yield_yesterday_kwh: float | None
    """The previous local day's total; None before a whole day has been simulated."""
    solar_noon: int
    """Unix time of solar noon on the plant's current local day."""

    @property
    def grid_w(self) -> float:
        """Power at the grid connection, positive when exporting."""
        return self.ac_w - self.load_w


_TRUTH_KEYS = (
    "pv",
    "ac",
    "battery_charge",
    "battery_discharge",
    "grid_export",
    "grid_import",
    "household",
)


class Plant:
    """Integrates one plant's state in fixed steps and reports it at each upload attempt.

    ``on_upload`` receives the state at the instant ``next_upload`` and returns the instant of
    the following attempt. ``first_upload(t)`` gives the first attempt at or after ``t``.
    """

    def __init__(
        self,
        config: PlantConfig,
        *,
        created: int,
        first_upload: Callable[[int], int],
        on_upload: Callable[[Sample], int],
    ) -> None:
        """Prepare a plant created at Unix time ``created``; nothing is computed yet."""
        self.config = config
        self._first_upload = first_upload
        self._on_upload = on_upload
        self.truth_start = created - created % STEP
        """Exact integrals (``truth``) are kept from here on."""
        tz = config.timezone
        created_day = datetime.fromtimestamp(created, tz).date()
        # Start at local midnight the day before creation, so that the first reply already has
        # last evening's upload, today's yield so far and a settled battery.
        start = int(
            datetime.combine(
                created_day - timedelta(days=1), time(), tzinfo=tz
            ).timestamp()
        )
        self._t = start - start % WARMUP_STEP
        self._started = False
        self.next_upload = 0
        battery = config.battery
        self._soc_wh = config.initial_soc * battery.capacity_wh if battery else 0.0
        # Cumulative energies in W·s since the simulation began.
        self._pv = self._ac = self._charge = self._discharge = 0.0
        self._export = self._import = self._household = 0.0
        self._day_start_ac = 0.0
        self._day_is_whole = False
        self._yesterday_ac: float | None = None
        self._day = SolarDay(0, 0.0, 0.0)
        self._day_end = self._t
        self._boundary = self._t  # the first step opens the first day
        self._offset = 0
        self._last_step: tuple[float, ...] | None = None
        self._truth = tuple(array("d") for _ in _TRUTH_KEYS)

    def advance(self, target: int) -> None:
        """Integrate up to ``target`` and report every upload attempt until ``target``."""
        if not self._started:
            self._started = True
            self.next_upload = self._first_upload(self._t)
            self._run(self.truth_start - WARMUP_STEP, WARMUP_STEP, record=False)
            self._run(self.truth_start - STEP, STEP, record=False)
            for series, value in zip(self._truth, self._totals(), strict=True):
                series.append(value)
        self._run(target, STEP, record=True)

    def truth(self, start: float, end: float) -> dict[str, float]:
        """Exact energies in kWh between two Unix times; ``advance(end)`` first."""
        if start > end:
            raise ValueError("start is after end")
        if start < self.truth_start:
            raise ValueError(
                "exact energies are kept only from the inverter's creation"
            )
        if not self._started or end > self._t:
            raise ValueError("the plant has not been simulated that far")
        return {
            key: (self._total_at(series, end) - self._total_at(series, start))
            / _WATT_SECONDS_PER_KWH
            for key, series in zip(_TRUTH_KEYS, self._truth, strict=True)
        }

    def _total_at(self, series: array[float], when: float) -> float:
        index, into = divmod(when - self.truth_start, STEP)
        step = int(index)
        if step + 1 >= len(series):
            return series[-1]
        return series[step] + (series[step + 1] - series[step]) * into / STEP

    def _totals(self) -> tuple[float, ...]:
        return (
            self._pv,
            self._ac,
            self._charge,
            self._discharge,
            self._export,
            self._import,
            self._household,
        )

    def _utc_offset(self, when: int) -> int:
        offset = datetime.fromtimestamp(when, self.config.timezone).utcoffset()
        return int(offset.total_seconds()) if offset is not None else 0

    def _save_totals(
        self,
        soc_wh: float,
        totals: tuple[float, float, float, float, float, float, float],
    ) -> None:
        """Store the state of charge and the running energy totals (W·s)."""
        self._soc_wh = soc_wh
        (
            self._pv,
            self._ac,
            self._charge,
            self._discharge,
            self._export,
            self._import,
            self._household,
        ) = totals

    def _cross_boundary(self, when: int) -> None:
        """Open a new local day (sun's path, yield reset) or apply a DST change at ``when``."""
        tz = self.config.timezone
        self._offset = self._utc_offset(when)
        if when >= self._day_end:
            local_day = datetime.fromtimestamp(when, tz).date()
            day_start = int(datetime.combine(local_day, time(), tzinfo=tz).timestamp())
            next_start = int(
                datetime.combine(
                    local_day + timedelta(days=1), time(), tzinfo=tz
                ).timestamp()
            )
            self._day_end = max(next_start, when + STEP)
            self._day = solar_day(
                local_day,
                self.config.latitude,
                self.config.longitude,
                day_start + DAY // 2,
            )
            self._yesterday_ac = (
                (self._ac - self._day_start_ac) if self._day_is_whole else None
            )
            self._day_start_ac = self._ac
            self._day_is_whole = when == day_start
        self._boundary = self._day_end
        if self._utc_offset(self._day_end - 1) != self._offset:
            # A DST change today: find the second it happens.
            low, high = when, self._day_end - 1
            after = self._utc_offset(high)
            while high - low > 1:
                middle = (low + high) // 2
                if self._utc_offset(middle) == after:
                    high = middle
                else:
                    low = middle
            self._boundary = high

    def _sample(self, when: int) -> Sample:
        """The state at ``when``, inside the last integrated step."""
        assert self._last_step is not None
        (
            step_start,
            available,
            pv,
            ac,
            charge,
            discharge,
            load,
            soc_wh,
            ac_ws,
            export_ws,
            import_ws,
        ) = self._last_step
        into = when - step_start
        battery = self.config.battery
        soc_percent: float | None = None
        if battery is not None:
            soc_wh += (
                (charge * BATTERY_EFFICIENCY - discharge / BATTERY_EFFICIENCY)
                * into
                / 3600.0
            )
            soc_percent = 100.0 * soc_wh / battery.capacity_wh
        grid = ac - load
        ac_ws += ac * into
        yesterday = self._yesterday_ac
        return Sample(
            at=when,
            available_pv_w=available,
            pv_w=pv,
            ac_w=ac,
            load_w=load,
            battery_w=charge - discharge,
            soc_percent=soc_percent,
            ac_kwh=ac_ws / _WATT_SECONDS_PER_KWH,
            export_kwh=(export_ws + max(grid, 0.0) * into) / _WATT_SECONDS_PER_KWH,
            import_kwh=(import_ws + max(-grid, 0.0) * into) / _WATT_SECONDS_PER_KWH,
            yield_today_kwh=(ac_ws - self._day_start_ac) / _WATT_SECONDS_PER_KWH,
            yield_yesterday_kwh=None
            if yesterday is None
            else yesterday / _WATT_SECONDS_PER_KWH,
            solar_noon=self._day.solar_noon,
        )

    def _emit(self, step_end: int, target: int) -> int:
        """Report the upload attempts due in the last step, up to ``target``."""
        while self.next_upload < step_end and self.next_upload <= target:
            self.next_upload = self._on_upload(self._sample(self.next_upload))
        return self.next_upload

    def _run(self, target: int, dt: int, *, record: bool) -> None:
        """Integrate every step that starts at or before ``target``; the simulator's hot loop."""
        t = self._t
        if self._last_step is not None and self.next_upload < t:
            self._emit(
                t, target
            )  # attempts left over inside the step integrated last time
        if t > target:
            return
        cfg = self.config
        peak = cfg.peak_power_w
        threshold = cfg.threshold_w
        cloud_base = cfg.cloud_base
        (a1, w1, p1), (a2, w2, p2), (a3, w3, p3), (a4, w4, p4) = cfg.cloud_terms
        wiggle_amplitude, wiggle_omega, wiggle_phase = cfg.load_wiggle
        load_scale = cfg.load_scale
        battery = cfg.battery
        has_battery = battery is not None
        min_wh = max_wh = max_w = 0.0
        if battery is not None:
            min_wh = battery.min_soc * battery.capacity_wh
            max_wh = battery.max_soc * battery.capacity_wh
            max_w = battery.max_power_w
        hours = dt / 3600.0
        efficiency, battery_efficiency = INVERTER_EFFICIENCY, BATTERY_EFFICIENCY
        exponent, omega_day = _PV_EXPONENT, _OMEGA_DAY
        load_profile = LOAD_PROFILE
        sin, cos = math.sin, math.cos
        (
            truth_pv,
            truth_ac,
            truth_charge,
            truth_discharge,
            truth_export,
            truth_import,
            truth_household,
        ) = self._truth
        soc_wh = self._soc_wh
        (
            cum_pv,
            cum_ac,
            cum_charge,
            cum_discharge,
            cum_export,
            cum_import,
            cum_household,
        ) = self._totals()
        next_upload = self.next_upload
        boundary, offset = self._boundary, self._offset
        noon, sin_product, cos_product = (
            self._day.solar_noon,
            self._day.sin_product,
            self._day.cos_product,
        )
        available = pv = ac = charge = discharge = load = 0.0
        step_start, step_soc, step_ac, step_export, step_import = (
            t,
            soc_wh,
            cum_ac,
            0.0,
            0.0,
        )
        while t <= target:
            if t >= boundary:
                self._save_totals(
                    soc_wh,
                    (
                        cum_pv,
                        cum_ac,
                        cum_charge,
                        cum_discharge,
                        cum_export,
                        cum_import,
                        cum_household,
                    ),
                )
                self._cross_boundary(t)
                boundary, offset = self._boundary, self._offset
                noon, sin_product, cos_product = (
                    self._day.solar_noon,
                    self._day.sin_product,
                    self._day.cos_product,
                )
            sin_elevation = sin_product + cos_product * cos(omega_day * (t - noon))
            if sin_elevation > 0.0:
                cloudiness = (
                    cloud_base
                    + a1 * sin(w1 * t + p1)
                    + a2 * sin(w2 * t + p2)
                    + a3 * sin(w3 * t + p3)
                    + a4 * sin(w4 * t + p4)
                )
                if cloudiness > 1.0:
                    cloudiness = 1.0
                elif cloudiness < 0.12:
                    cloudiness = 0.12
                available = peak * sin_elevation**exponent * cloudiness
            else:
                available = 0.0
            load = load_scale * (
                load_profile[((t + offset) % DAY) // STEP]
                + wiggle_amplitude * sin(wiggle_omega * t + wiggle_phase)
            )
            if has_battery:
                pv = available
                surplus = pv * efficiency - load
                charge = discharge = 0.0
                if surplus > 0.0:
                    if soc_wh < max_wh:
                        charge = min(
                            surplus,
                            max_w,
                            (max_wh - soc_wh) / (battery_efficiency * hours),
                        )
                elif soc_wh > min_wh:
                    discharge = min(
                        -surplus, max_w, (soc_wh - min_wh) * battery_efficiency / hours
                    )
                ac = pv * efficiency - charge + discharge
            else:
                pv = available if available >= threshold else 0.0
                ac = pv * efficiency
            step_start, step_soc, step_ac, step_export, step_import = (
                t,
                soc_wh,
                cum_ac,
                cum_export,
                cum_import,
            )
            grid = ac - load
            if t + dt > next_upload:
                self._last_step = (
                    t,
                    available,
                    pv,
                    ac,
                    charge,
                    discharge,
                    load,
                    soc_wh,
                    cum_ac,
                    cum_export,
                    cum_import,
                )
                next_upload = self._emit(t + dt, target)
            cum_pv += pv * dt
            cum_ac += ac * dt
            cum_household += load * dt
            if grid > 0.0:
                cum_export += grid * dt
            else:
                cum_import -= grid * dt
            if has_battery:
                cum_charge += charge * dt
                cum_discharge += discharge * dt
                soc_wh += (
                    charge * battery_efficiency - discharge / battery_efficiency
                ) * hours
            if record:
                truth_pv.append(cum_pv)
                truth_ac.append(cum_ac)
                truth_charge.append(cum_charge)
                truth_discharge.append(cum_discharge)
                truth_export.append(cum_export)
                truth_import.append(cum_import)
                truth_household.append(cum_household)
            t += dt
        self._last_step = (
            step_start,
            available,
            pv,
            ac,
            charge,
            discharge,
            load,
            step_soc,
            step_ac,
            step_export,
            step_import,
        )
        self._t = t
        self._save_totals(
            soc_wh,
            (
                cum_pv,
                cum_ac,
                cum_charge,
                cum_discharge,
                cum_export,
                cum_import,
                cum_household,
            ),
        )
