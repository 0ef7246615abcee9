"""Tests for the trapezoid power integrator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import json
import math

import pytest

from custom_components.sunvec.energy import (
    PowerIntegrator,
    PowerPart,
    segment_energy_ws,
    sum_known,
)

T0 = datetime(2024, 6, 15, 10, 0, tzinfo=UTC)
FIVE_MIN = timedelta(minutes=5)


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_fresh_integrator_counts_positive_power_from_zero() -> None:
    integrator = PowerIntegrator()
    assert integrator.total == 0.0
    integrator.add(_at(0), -1200.0)
    assert integrator.add(_at(5), -1200.0) == 0.0
    # -1200 W to +1200 W: only the half after the zero crossing counts.
    assert integrator.add(_at(10), 1200.0) == pytest.approx(1200 / 2 * 150 / 3.6e6)


def test_constant_power_for_an_hour_is_exact() -> None:
    integrator = PowerIntegrator()
    for i in range(13):
        total = integrator.add(_at(5 * i), 1000.0)
    assert total == pytest.approx(1.0, rel=1e-12)
    assert integrator.total == total


def test_linear_ramp_is_exact() -> None:
    integrator = PowerIntegrator()
    for i in range(13):  # 0 W to 1200 W over one hour
        integrator.add(_at(5 * i), 100.0 * i)
    assert integrator.total == pytest.approx(0.6, rel=1e-12)


def test_first_sample_adds_nothing() -> None:
    integrator = PowerIntegrator()
    assert integrator.add(T0, 5000.0) == 0.0
    # It is the start of the next interval.
    assert integrator.add(_at(5), 5000.0) == pytest.approx(5000 * 300 / 3.6e6)


def test_record_seen_twice_adds_nothing() -> None:
    integrator = PowerIntegrator()
    integrator.add(_at(0), 1200.0)
    first = integrator.add(_at(5), 1200.0)
    assert first == pytest.approx(0.1)
    assert integrator.add(_at(5), 1200.0) == first
    assert integrator.add(_at(5), 99999.0) == first  # same upload: ignored
    assert integrator.add(_at(10), 1200.0) == pytest.approx(0.2)


def test_earlier_sample_adds_nothing() -> None:
    integrator = PowerIntegrator()
    integrator.add(_at(10), 1200.0)
    integrator.add(_at(15), 1200.0)
    assert integrator.add(_at(0), 1200.0) == pytest.approx(0.1)
    assert integrator.add(_at(20), 1200.0) == pytest.approx(0.2)


def test_gap_longer_than_max_adds_nothing() -> None:
    integrator = PowerIntegrator()
    integrator.add(_at(0), 1200.0)
    assert integrator.add(_at(15), 1200.0) == pytest.approx(0.3)  # exactly max_gap
    assert integrator.add(_at(31), 1200.0) == pytest.approx(0.3)  # 16 minutes
    assert integrator.add(_at(36), 1200.0) == pytest.approx(0.4)


def test_custom_max_gap() -> None:
    integrator = PowerIntegrator(max_gap=timedelta(minutes=5))
    integrator.add(_at(0), 1200.0)
    assert integrator.add(_at(10), 1200.0) == 0.0


def test_missing_value_adds_nothing_for_both_intervals() -> None:
    integrator = PowerIntegrator()
    integrator.add(_at(0), 1200.0)
    integrator.add(_at(5), 1200.0)
    assert integrator.add(_at(10), None) == pytest.approx(0.1)
    assert integrator.add(_at(15), 1200.0) == pytest.approx(0.1)
    assert integrator.add(_at(20), 1200.0) == pytest.approx(0.2)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_value_is_missing(bad: float) -> None:
    integrator = PowerIntegrator(PowerPart.POSITIVE)
    integrator.add(_at(0), 1200.0)
    assert integrator.add(_at(5), bad) == 0.0
    assert integrator.add(_at(10), 1200.0) == 0.0
    assert integrator.add(_at(15), 1200.0) == pytest.approx(0.1)


def test_sign_change_split_exactly() -> None:
    # +1000 W to -1000 W over 10 minutes: zero crossing after 5 minutes.
    half = 1000 / 2 * 300 / 3_600_000
    for part, expected in [(PowerPart.POSITIVE, half), (PowerPart.NEGATIVE, half)]:
        integrator = PowerIntegrator(part)
        integrator.add(_at(0), 1000.0)
        assert integrator.add(_at(10), -1000.0) == pytest.approx(expected, rel=1e-12)


def test_sign_change_split_uneven() -> None:
    # -500 W to +1500 W over 600 s: zero after 150 s.
    charge = PowerIntegrator("positive")
    discharge = PowerIntegrator("negative")
    for integrator in (charge, discharge):
        integrator.add(_at(0), -500.0)
        integrator.add(_at(10), 1500.0)
    assert charge.total == pytest.approx(1500 / 2 * 450 / 3_600_000, rel=1e-12)
    assert discharge.total == pytest.approx(500 / 2 * 150 / 3_600_000, rel=1e-12)


def test_segment_energy_by_sign() -> None:
    assert segment_energy_ws(100.0, 300.0, 10.0) == (2000.0, 0.0)
    assert segment_energy_ws(-100.0, -300.0, 10.0) == (0.0, 2000.0)
    assert segment_energy_ws(0.0, -300.0, 10.0) == (0.0, 1500.0)
    assert segment_energy_ws(0.0, 0.0, 10.0) == (0.0, 0.0)
    assert segment_energy_ws(100.0, -100.0, 10.0) == (250.0, 250.0)
    assert segment_energy_ws(-100.0, 300.0, 10.0) == (1125.0, 125.0)


def test_positive_part_ignores_negative_power() -> None:
    integrator = PowerIntegrator(PowerPart.POSITIVE)
    integrator.add(_at(0), -3.0)  # PV sensor noise at night
    assert integrator.add(_at(5), -2.0) == 0.0


def test_negative_part_ignores_positive_power() -> None:
    integrator = PowerIntegrator(PowerPart.NEGATIVE)
    integrator.add(_at(0), 800.0)
    assert integrator.add(_at(5), 800.0) == 0.0
    assert integrator.add(_at(10), -1200.0) > 0.0


def test_total_never_decreases() -> None:
    powers = [0, 500, -800, -800, 1200, None, 300, -50, 0, 7000, -7000, 10, 10]
    for part in PowerPart:
        integrator = PowerIntegrator(part)
        previous = 0.0
        minute = 0
        for i, power in enumerate(powers):
            minute += 20 if i == 8 else 5
            total = integrator.add(_at(minute), None if power is None else float(power))
            assert total >= previous
            previous = total
        assert previous > 0.0


def test_restore_recent_continues() -> None:
    integrator = PowerIntegrator()
    integrator.restore(5.0, _at(0), 1200.0)
    assert integrator.total == 5.0
    assert integrator.add(_at(5), 1200.0) == pytest.approx(5.1)


def test_restore_old_starts_fresh_without_spike() -> None:
    integrator = PowerIntegrator()
    integrator.restore(5.0, _at(0), 1200.0)
    assert integrator.add(_at(60), 1200.0) == 5.0
    assert integrator.add(_at(65), 1200.0) == pytest.approx(5.1)


def test_restore_same_record_adds_nothing() -> None:
    integrator = PowerIntegrator()
    integrator.restore(5.0, _at(0), 1200.0)
    assert integrator.add(_at(0), 1200.0) == 5.0


@pytest.mark.parametrize(
    ("total", "last_time", "last_power", "expected_power"),
    [
        (-1.0, _at(0), 1200.0, 1200.0),
        (math.nan, _at(0), math.nan, None),
        (math.inf, None, 1200.0, None),
        (0.0, _at(0), None, None),
    ],
)
def test_restore_sanitises(
    total: float,
    last_time: datetime | None,
    last_power: float | None,
    expected_power: float | None,
) -> None:
    integrator = PowerIntegrator()
    integrator.add(_at(-5), 100.0)
    integrator.restore(total, last_time, last_power)
    assert integrator.as_dict() == {
        "total_kwh": 0.0,
        "last_time": None if last_time is None else last_time.isoformat(),
        "last_power_w": expected_power,
    }


def test_as_dict_round_trip_through_json() -> None:
    integrator = PowerIntegrator(PowerPart.NEGATIVE)
    integrator.add(_at(0), -1200.0)
    integrator.add(_at(5), -1200.0)
    data = json.loads(json.dumps(integrator.as_dict()))
    assert data == {
        "total_kwh": pytest.approx(0.1),
        "last_time": "2024-06-15T10:05:00+00:00",
        "last_power_w": -1200.0,
    }
    restored = PowerIntegrator.from_dict(data, part=PowerPart.NEGATIVE)
    assert restored.total == integrator.total
    # Continues from the stored sample, with the negative part.
    assert restored.add(_at(10), -1200.0) == pytest.approx(0.2)


def test_as_dict_fresh() -> None:
    assert PowerIntegrator().as_dict() == {
        "total_kwh": 0.0,
        "last_time": None,
        "last_power_w": None,
    }


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"total_kwh": "3", "last_time": 12, "last_power_w": "x"},
        {"total_kwh": 3, "last_time": "yesterday", "last_power_w": 100},
        {"total_kwh": 3, "last_time": "2024-06-15T10:05:00", "last_power_w": 100},
    ],
)
def test_from_dict_bad_fields_dropped(data: dict[str, object]) -> None:
    integrator = PowerIntegrator.from_dict(data, max_gap=timedelta(minutes=10))
    assert integrator.total in {0.0, 3.0}
    assert integrator.as_dict()["last_time"] is None
    assert integrator.as_dict()["last_power_w"] is None
    assert integrator.add(_at(0), 100.0) == integrator.total


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="max_gap"):
        PowerIntegrator(max_gap=timedelta(0))
    with pytest.raises(ValueError, match="sideways"):
        PowerIntegrator("sideways")


def test_sum_known() -> None:
    assert sum_known([162.0, 0.0, None, None]) == 162.0
    assert sum_known([None, None]) is None
    assert sum_known([]) is None
    assert sum_known([0.1, 0.2]) == pytest.approx(0.3)


@pytest.mark.parametrize("absurd", [1e7, -1e7, 1e308])
def test_a_sample_no_inverter_can_produce_is_not_integrated(absurd: float) -> None:
    """One sample of 1e7 W (or 1e308) adds nothing, and the total stays finite."""
    integrator = PowerIntegrator()
    integrator.add(_at(0), 1200.0)
    assert integrator.add(_at(5), absurd) == 0.0
    assert integrator.add(_at(10), 1200.0) == 0.0
    assert integrator.add(_at(15), 1200.0) == pytest.approx(0.1)
    assert math.isfinite(integrator.total)


def test_restored_sample_in_the_future_is_dropped_and_the_total_kept() -> None:
    """A stored sample time of 2099 would freeze the energy for good."""
    reported: list[str] = []
    restored = PowerIntegrator.from_dict(
        {"total_kwh": 3.0, "last_time": "2099-01-01T00:00:00+00:00", "last_power_w": 5},
        now=_at(0),
        report=reported.append,
    )
    assert restored.total == 3.0
    restored.add(_at(0), 1200.0)
    assert restored.add(_at(5), 1200.0) == pytest.approx(3.1)
    assert len(reported) == 1


def test_restored_total_that_cannot_be_true_starts_at_zero() -> None:
    reported: list[str] = []
    restored = PowerIntegrator.from_dict(
        {"total_kwh": 1e300, "last_time": None, "last_power_w": None},
        report=reported.append,
    )
    assert restored.total == 0.0
    assert len(reported) == 1
