"""Connection bindings: which adapter verifies a connection's webhooks and which region keeps
its receipts. Built once from settings, read by the hot path without any I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import SecretStr

from inkbridge.config import ConnectionSettings, Settings, resolve_secret
from inkbridge.errors import ConfigError
from inkbridge.providers.base import WebhookAdapter
from inkbridge.providers.standard_webhooks import StandardWebhooksAdapter


@dataclass(frozen=True)
class ConnectionBinding:
    """One provider connection as the webhook endpoint sees it."""

    name: str
    region: str
    provider: str
    adapter: WebhookAdapter
    max_body_bytes: int


def _secrets(conn: ConnectionSettings) -> list[SecretStr]:
    return [resolve_secret(ref) for ref in conn.secrets]


def build_adapter(name: str, conn: ConnectionSettings) -> WebhookAdapter:
    if conn.provider in {"sandbox", "standard_webhooks"}:
        if not conn.secrets:
            raise ConfigError(f"connection {name!r} needs at least one secret")
        return StandardWebhooksAdapter(
            _secrets(conn), tolerance_seconds=conn.tolerance_seconds, provider=conn.provider
        )
    raise ConfigError(f"connection {name!r}: unknown provider {conn.provider!r}")


def build_bindings(settings: Settings) -> Mapping[str, ConnectionBinding]:
    return {
        name: ConnectionBinding(
            name=name,
            region=conn.region,
            provider=conn.provider,
            adapter=build_adapter(name, conn),
            max_body_bytes=settings.server.max_body_bytes,
        )
        for name, conn in settings.connections.items()
    }
