"""Snapshots that read the same on every Home Assistant the suite runs on.

Home Assistant's snapshot extension writes registry entries and states as the running
release holds them, and releases differ in ways that say nothing about this
integration: bookkeeping fields come and go, aliases are kept in another form, and
attribute keys became string enums. This serializer writes what every release has in
one form, so that one snapshot file holds on 2025.4 and on the newest; every value the
integration sets (state, attributes, unique id, device class, unit, category, enabled
state, device info) stays under snapshot on each.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Any

from homeassistant.core import State
from homeassistant.helpers import device_registry as dr, entity_registry as er
from pytest_homeassistant_custom_component.syrupy import (
    HomeAssistantSnapshotExtension,
    HomeAssistantSnapshotSerializer,
)
from syrupy.types import SerializableData

# Fields that 2025.4 or 2026.10 lacks: registry bookkeeping, or values Home Assistant
# derives from others that stay under snapshot. Left out on every release; a field
# that a later release adds shows up as a snapshot mismatch, to be judged then.
ENTITY_ENTRY_FIELDS_NOT_EVERYWHERE = frozenset(
    {
        "object_id_base",  # not in 2025.4; the entity's name (original_name)
        "suggested_object_id",  # not in 2025.4; None unless an integration sets one
    }
)
DEVICE_ENTRY_FIELDS_NOT_EVERYWHERE = frozenset(
    {
        # The link to the config entry, which the extension writes as <ANY> anyway:
        # a set of entries in 2025.4, one entry in 2026.10.
        "config_entries",
        "config_entries_subentries",
        "primary_config_entry",
        "config_entry_id",
        "config_subentry_id",
        "is_new",  # not in 2026.10: registry bookkeeping
        "suggested_area",  # not in 2026.10: deprecated, never set by this integration
    }
)


def _plain_keys(mapping: Mapping[Any, Any]) -> dict[Any, Any]:
    """Return ``mapping`` with string-enum keys (newer releases) as plain strings."""
    return {
        key.value if isinstance(key, Enum) and isinstance(key, str) else key: value
        for key, value in mapping.items()
    }


class PortableSnapshotSerializer(HomeAssistantSnapshotSerializer):
    """Home Assistant's serializer, in the form that every release has."""

    @classmethod
    def _serializable_entity_registry_entry(
        cls, data: er.RegistryEntry
    ) -> SerializableData:
        serialized = super()._serializable_entity_registry_entry(data)
        for field in ENTITY_ENTRY_FIELDS_NOT_EVERYWHERE:
            serialized.pop(field, None)
        # The aliases a user gave: newer releases also list the entity's own name
        # among them (None in the serialized form).
        serialized["aliases"] = {
            alias for alias in serialized["aliases"] if isinstance(alias, str)
        }
        if serialized["capabilities"] is not None:
            serialized["capabilities"] = _plain_keys(serialized["capabilities"])
        return serialized

    @classmethod
    def _serializable_device_registry_entry(
        cls, data: dr.DeviceEntry
    ) -> SerializableData:
        serialized = super()._serializable_device_registry_entry(data)
        for field in DEVICE_ENTRY_FIELDS_NOT_EVERYWHERE:
            serialized.pop(field, None)
        return serialized

    @classmethod
    def _serializable_state(cls, data: State) -> SerializableData:
        serialized = super()._serializable_state(data)
        attributes = serialized["attributes"]
        # Keep the mapping's type (ReadOnlyDict), which the snapshot shows.
        serialized["attributes"] = type(attributes)(_plain_keys(attributes))
        return serialized


class PortableSnapshotExtension(HomeAssistantSnapshotExtension):
    """Home Assistant's snapshot extension with the portable serializer."""

    serializer_class = PortableSnapshotSerializer
