"""Salesforce: envelope records, leads or contacts, consent objects and tasks."""

from __future__ import annotations

from inkbridge.connectors.kind import ConnectorKind
from inkbridge.connectors.salesforce.connector import from_settings

SALESFORCE = ConnectorKind.from_settings("salesforce", from_settings)
