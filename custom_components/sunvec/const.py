"""Constants of the Sunvec Connect integration."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "sunvec"
LOGGER = logging.getLogger(__package__)

MANUFACTURER: Final = "Sunvec"

CONF_API_ADDRESS: Final = "api_address"
CONF_WIFI_SN: Final = "wifi_sn"
CONF_ACCOUNT: Final = "account"

PORTAL_URL: Final = "https://portal.sunvec-x.com"

UPLOAD_PERIOD: Final = 300.0
"""The inverter's nominal upload period in seconds ("about every 5 minutes")."""

TIMER_SLACK: Final = 0.5
"""Seconds by which a planned instant may still be ahead and count as now.

Timers fire a little early or late, and the call budget plans in floats.
"""
