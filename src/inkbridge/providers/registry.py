"""Connection bindings: which adapter verifies a connection's webhooks and which region keeps
its receipts. Built once from settings, read by the hot path without any I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import SecretStr

from inkbridge.config import ConnectionSettings, Settings, resolve_secret
from inkbridge.errors import ConfigError
from inkbridge.providers.acrobat_sign import AcrobatSignAdapter
from inkbridge.providers.base import WebhookAdapter
from inkbridge.providers.documenso import DocumensoAdapter
from inkbridge.providers.docuseal import DocuSealAdapter
from inkbridge.providers.docusign import DocuSignConnectAdapter
from inkbridge.providers.dropbox_sign import DropboxSignAdapter
from inkbridge.providers.pandadoc import PandaDocAdapter
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


PROVIDERS = (
    "sandbox",
    "standard_webhooks",
    "docusign",
    "dropbox_sign",
    "acrobat_sign",
    "pandadoc",
    "documenso",
    "docuseal",
)


def build_adapter(name: str, conn: ConnectionSettings) -> WebhookAdapter:
    """The inbound adapter of a connection; every one verifies with any of several secrets."""
    if conn.provider not in PROVIDERS:
        raise ConfigError(
            f"connection {name!r}: unknown provider {conn.provider!r}; "
            f"known: {', '.join(PROVIDERS)}"
        )
    if not conn.secrets:
        raise ConfigError(f"connection {name!r} needs at least one secret")
    secrets = _secrets(conn)
    if conn.provider in {"sandbox", "standard_webhooks"}:
        return StandardWebhooksAdapter(
            secrets, tolerance_seconds=conn.tolerance_seconds, provider=conn.provider
        )
    if conn.provider == "docusign":
        return DocuSignConnectAdapter(secrets)
    if conn.provider == "dropbox_sign":
        return DropboxSignAdapter(secrets)
    if conn.provider == "acrobat_sign":
        return AcrobatSignAdapter(secrets)
    if conn.provider == "pandadoc":
        return PandaDocAdapter(secrets)
    if conn.provider == "documenso":
        return DocumensoAdapter(secrets)
    return DocuSealAdapter(secrets, tolerance_seconds=conn.tolerance_seconds)


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
