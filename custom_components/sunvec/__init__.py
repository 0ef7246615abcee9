"""The Sunvec Connect integration."""
