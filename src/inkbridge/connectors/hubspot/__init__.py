"""HubSpot: deals or a custom object, contacts, subscriptions, lists and tasks."""

from __future__ import annotations

from inkbridge.connectors.hubspot.settings import from_settings
from inkbridge.connectors.kind import ConnectorKind

HUBSPOT = ConnectorKind.from_settings("hubspot", from_settings)
