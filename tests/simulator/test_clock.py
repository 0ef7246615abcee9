"""The simulator's clocks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sunvec_simulator import ScaledClock, SunvecCloud, VirtualClock

from .conftest import START


def test_virtual_clock() -> None:
    clock = VirtualClock(
        datetime(2024, 6, 20, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    )
    assert clock() == datetime(2024, 6, 20, 10, 0, tzinfo=UTC)
    assert clock().tzinfo is UTC
    clock.advance(90.5)
    assert clock() == datetime(2024, 6, 20, 10, 1, 30, 500000, tzinfo=UTC)
    clock.set(START)
    assert clock() == START
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    with pytest.raises(ValueError, match="aware"):
        clock.set(datetime(2024, 6, 20))
    with pytest.raises(ValueError, match="aware"):
        VirtualClock(datetime(2024, 6, 20))


def test_scaled_clock() -> None:
    clock = ScaledClock(1000.0, start=START)
    first = clock()
    assert first.tzinfo is UTC
    assert START <= first < START + timedelta(minutes=10)
    assert clock() >= first
    assert abs(ScaledClock()() - datetime.now(UTC)) < timedelta(seconds=5)
    with pytest.raises(ValueError, match="positive"):
        ScaledClock(0)


def test_cloud_refuses_naive_clocks() -> None:
    cloud = SunvecCloud(clock=lambda: datetime(2024, 6, 20))
    with pytest.raises(ValueError, match="aware"):
        cloud.now()
    with pytest.raises(ValueError, match="second"):
        SunvecCloud(upload_interval=0.5)
    with pytest.raises(ValueError, match="empty"):
        SunvecCloud().add_token("")


def test_real_clock_by_default() -> None:
    cloud = SunvecCloud()
    assert abs(cloud.now() - datetime.now(UTC)) < timedelta(seconds=5)
