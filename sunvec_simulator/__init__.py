"""A simulator of the Sunvec Connect cloud API, for tests, benchmarks and demos.

Nothing here ships to users; the integration in ``custom_components/sunvec`` talks to it over
HTTP exactly as it talks to the real cloud.
"""

from .app import create_app
from .clock import ScaledClock, VirtualClock
from .cloud import SunvecCloud
from .demo import DEMO_TOKEN, DEMO_TOKEN_2, DEMO_WIFI_SN, demo_cloud
from .faults import Fault
from .inverter import InverterKind, SimulatedInverter, Upload

__all__ = [
    "DEMO_TOKEN",
    "DEMO_TOKEN_2",
    "DEMO_WIFI_SN",
    "Fault",
    "InverterKind",
    "ScaledClock",
    "SimulatedInverter",
    "SunvecCloud",
    "Upload",
    "VirtualClock",
    "create_app",
    "demo_cloud",
]
