"""Pipedrive: deals, persons with a marketing status, and activities."""

from __future__ import annotations

from inkbridge.connectors.kind import ConnectorKind
from inkbridge.connectors.pipedrive.connector import from_settings

PIPEDRIVE = ConnectorKind.from_settings("pipedrive", from_settings)
