"""A ready-made cloud for demos and tests: two accounts, five inverters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from .cloud import SunvecCloud
from .inverter import InverterKind

DEMO_TOKEN = "sunvecdemo0000000000000000000001"  # noqa: S105 (public demo token)
"""The installer account with one inverter of each kind."""
DEMO_TOKEN_2 = "sunvecdemo0000000000000000000002"  # noqa: S105 (public demo token)
"""A second account, with plants in other time zones."""
DEMO_WIFI_SN = "SVDEMOHYB1"
"""The demo account's hybrid inverter."""
DEMO_GRID_TIED_WIFI_SN = "SVDEMOGRD1"
DEMO_THREE_PHASE_WIFI_SN = "SVDEMO3PH1"


def demo_cloud(
    clock: Callable[[], datetime] | None = None, **kwargs: Any
) -> SunvecCloud:
    """A cloud with ``DEMO_TOKEN`` (three inverters) and ``DEMO_TOKEN_2`` (two more).

    Keyword arguments go to ``SunvecCloud``.
    """
    cloud = SunvecCloud(clock=clock, **kwargs)
    cloud.printable_tokens.update({DEMO_TOKEN, DEMO_TOKEN_2})
    cloud.add_inverter(
        DEMO_TOKEN, DEMO_WIFI_SN, kind=InverterKind.HYBRID, peak_power_w=6000.0
    )
    cloud.add_inverter(
        DEMO_TOKEN,
        DEMO_GRID_TIED_WIFI_SN,
        kind=InverterKind.GRID_TIED,
        peak_power_w=3600.0,
    )
    cloud.add_inverter(
        DEMO_TOKEN,
        DEMO_THREE_PHASE_WIFI_SN,
        kind=InverterKind.THREE_PHASE,
        peak_power_w=10000.0,
        latitude=51.44,
        longitude=5.48,
    )
    cloud.add_inverter(
        DEMO_TOKEN_2,
        "SVDEMOGRD2",
        kind=InverterKind.GRID_TIED,
        timezone="Europe/Lisbon",
        latitude=38.72,
        longitude=-9.14,
        peak_power_w=4000.0,
    )
    cloud.add_inverter(
        DEMO_TOKEN_2,
        "SVDEMOHYB2",
        kind=InverterKind.HYBRID,
        timezone="Australia/Sydney",
        latitude=-33.87,
        longitude=151.21,
        peak_power_w=8000.0,
    )
    return cloud
