"""Tests for the Sunvec Connect integration."""
