"""Marketo: leads, consent as unsubscribed, journeys as lists or campaigns."""

from __future__ import annotations

from inkbridge.connectors.kind import ConnectorKind
from inkbridge.connectors.marketo.settings import from_settings

MARKETO = ConnectorKind.from_settings("marketo", from_settings)
