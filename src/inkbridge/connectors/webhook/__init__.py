"""Outbound webhooks: every change sent, in order and uncoalesced, signed as Standard Webhooks."""

from __future__ import annotations

import httpx

from inkbridge.config import DestinationSettings, resolve_secret
from inkbridge.connectors.kind import ConnectorKind
from inkbridge.connectors.webhook.connector import OutboundWebhookConnector
from inkbridge.errors import ConfigError
from inkbridge.local_site import LocalSite


def _build(
    name: str, dest: DestinationSettings, http: httpx.AsyncClient, _site: LocalSite
) -> OutboundWebhookConnector:
    if not dest.secret:
        raise ConfigError(f"webhook destination {name!r} needs a secret reference")
    if not dest.url:
        raise ConfigError(f"destination of kind {dest.kind!r} needs a url")
    return OutboundWebhookConnector(
        name=name,
        url=dest.url.rstrip("/"),
        secret=resolve_secret(dest.secret).get_secret_value(),
        client=http,
    )


WEBHOOK = ConnectorKind("webhook", build=_build, coalesce=False)
