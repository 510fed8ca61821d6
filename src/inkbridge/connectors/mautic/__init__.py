"""Mautic: contacts, do-not-contact entries, segments and campaigns."""

from __future__ import annotations

from inkbridge.connectors.kind import ConnectorKind
from inkbridge.connectors.mautic.connector import from_settings

MAUTIC = ConnectorKind.from_settings("mautic", from_settings)
