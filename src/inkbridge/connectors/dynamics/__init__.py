"""Microsoft Dynamics 365 (Dataverse): contacts, envelope records, consent flags and tasks."""

from __future__ import annotations

from inkbridge.connectors.dynamics.connector import from_settings
from inkbridge.connectors.kind import ConnectorKind

DYNAMICS = ConnectorKind.from_settings("dynamics", from_settings)
