"""The provider registry: which ``ProviderKind`` a connection's ``provider`` names, and the
connection bindings built from it (which adapter verifies a connection's webhooks and which
region keeps its receipts). Built once from settings, read by the hot path without any I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from inkbridge.config import ConnectionSettings, Settings, resolve_secret
from inkbridge.errors import ConfigError
from inkbridge.local_site import LocalSite
from inkbridge.providers.acrobat_sign import ACROBAT_SIGN
from inkbridge.providers.base import ProviderClient, WebhookAdapter
from inkbridge.providers.documenso import DOCUMENSO
from inkbridge.providers.docuseal import DOCUSEAL
from inkbridge.providers.docusign import DOCUSIGN
from inkbridge.providers.dropbox_sign import DROPBOX_SIGN
from inkbridge.providers.kind import ClientSetup, ProviderKind, WebhookSetup
from inkbridge.providers.pandadoc import PANDADOC
from inkbridge.providers.sandbox import SANDBOX
from inkbridge.providers.standard_webhooks import STANDARD_WEBHOOKS

KINDS: Mapping[str, ProviderKind] = {
    kind.name: kind
    for kind in (
        SANDBOX,
        STANDARD_WEBHOOKS,
        DOCUSIGN,
        DROPBOX_SIGN,
        ACROBAT_SIGN,
        PANDADOC,
        DOCUMENSO,
        DOCUSEAL,
    )
}
PROVIDERS = tuple(KINDS)


@dataclass(frozen=True)
class ConnectionBinding:
    """One provider connection as the webhook endpoint sees it."""

    name: str
    region: str
    provider: str
    adapter: WebhookAdapter
    max_body_bytes: int


def kind_of(name: str, conn: ConnectionSettings) -> ProviderKind:
    kind = KINDS.get(conn.provider)
    if kind is None:
        raise ConfigError(
            f"connection {name!r}: unknown provider {conn.provider!r}; "
            f"known: {', '.join(PROVIDERS)}"
        )
    return kind


def build_adapter(name: str, conn: ConnectionSettings) -> WebhookAdapter:
    """The inbound adapter of a connection; every one verifies with any of several secrets."""
    kind = kind_of(name, conn)
    if not conn.secrets:
        raise ConfigError(f"connection {name!r} needs at least one secret")
    generic = conn.mapping is not None or conn.signature.scheme != "standard_webhooks"
    if generic and kind is not STANDARD_WEBHOOKS:
        raise ConfigError(
            f"connection {name!r}: mapping and signature apply to provider "
            f"'standard_webhooks' only, not {conn.provider!r}"
        )
    secrets = [resolve_secret(ref) for ref in conn.secrets]
    setup = WebhookSetup(
        conn.provider, secrets, conn.tolerance_seconds, conn.mapping, conn.signature
    )
    return kind.adapter(setup)


def build_client(
    name: str, conn: ConnectionSettings, http: httpx.AsyncClient, site: LocalSite
) -> ProviderClient | None:
    """The API client of a connection, or None when it only receives webhooks."""
    return kind_of(name, conn).build_client(ClientSetup(name, conn, http, site))


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
