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
