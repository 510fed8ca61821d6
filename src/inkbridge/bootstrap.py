"""The one composition root: settings in, a wired container out. Production and tests share it;
tests pass their own settings (and, if they like, their own HTTP client)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from inkbridge.config import DestinationSettings, Settings, resolve_secret
from inkbridge.connectors.base import Connector
from inkbridge.errors import ConfigError
from inkbridge.providers.base import ProviderClient
from inkbridge.providers.registry import ConnectionBinding, build_bindings
from inkbridge.store import migrate
from inkbridge.store.database import Databases

SANDBOX_PROVIDER_PATH = "/sandbox/provider"
SANDBOX_CRM_PATH = "/sandbox/crm"
SANDBOX_MARKETING_PATH = "/sandbox/marketing"


@dataclass
class Destination:
    """A configured destination and the connector that writes to it."""

    name: str
    settings: DestinationSettings
    connector: Connector
    # Upsert destinations only need the newest state of a record; event streams need every event.
    coalesce: bool


@dataclass
class Container:
    settings: Settings
    databases: Databases
    bindings: Mapping[str, ConnectionBinding]
    http: httpx.AsyncClient
    providers: dict[str, ProviderClient] = field(default_factory=dict)
    destinations: dict[str, Destination] = field(default_factory=dict)

    async def aclose(self) -> None:
        await self.http.aclose()
        self.databases.dispose()


def _destination_url(settings: Settings, dest: DestinationSettings) -> str:
    if dest.url:
        return dest.url.rstrip("/")
    base = settings.server.base_url
    if dest.kind == "sandbox_crm":
        return base + SANDBOX_CRM_PATH
    if dest.kind == "sandbox_marketing":
        return base + SANDBOX_MARKETING_PATH
    raise ConfigError(f"destination of kind {dest.kind!r} needs a url")


def build_connector(
    settings: Settings, name: str, dest: DestinationSettings, http: httpx.AsyncClient
) -> Destination:
    from inkbridge.connectors.sandbox_crm import SandboxCrmConnector
    from inkbridge.connectors.webhook import OutboundWebhookConnector

    url = _destination_url(settings, dest)
    if dest.kind in {"sandbox_crm", "sandbox_marketing"}:
        connector: Connector = SandboxCrmConnector(
            name=name, base_url=url, client=http, max_batch=min(dest.batch_size, 100)
        )
        return Destination(name=name, settings=dest, connector=connector, coalesce=True)
    if dest.kind == "webhook":
        if not dest.secret:
            raise ConfigError(f"webhook destination {name!r} needs a secret reference")
        connector = OutboundWebhookConnector(
            name=name,
            url=url,
            secret=resolve_secret(dest.secret).get_secret_value(),
            client=http,
        )
        return Destination(name=name, settings=dest, connector=connector, coalesce=False)
    raise ConfigError(f"destination {name!r}: unknown kind {dest.kind!r}")


def build_provider(settings: Settings, connection: str, http: httpx.AsyncClient) -> ProviderClient:
    from inkbridge.providers.sandbox import SandboxProviderClient

    conn = settings.connections[connection]
    if conn.provider in {"sandbox", "standard_webhooks"}:
        url = (conn.api_url or settings.server.base_url + SANDBOX_PROVIDER_PATH).rstrip("/")
        return SandboxProviderClient(base_url=url, client=http)
    raise ConfigError(f"connection {connection!r}: no API client for {conn.provider!r}")


def sandbox_state_dir(settings: Settings) -> Path:
    return settings.data_dir / "sandbox"


def bootstrap(
    settings: Settings,
    *,
    http: httpx.AsyncClient | None = None,
    auto_migrate: bool = False,
) -> Container:
    """Wire everything from settings. Refuses an unmigrated database unless told to migrate."""
    databases = Databases(
        {region: settings.database_url(region) for region in settings.regions},
        home_region=settings.home_region,
    )
    if auto_migrate:
        migrate.upgrade_all(databases)
    else:
        migrate.ensure_migrated(databases)
    client = http or httpx.AsyncClient(timeout=httpx.Timeout(10.0), follow_redirects=False)
    container = Container(
        settings=settings, databases=databases, bindings=build_bindings(settings), http=client
    )
    for name, dest in settings.destinations.items():
        container.destinations[name] = build_connector(settings, name, dest, client)
    for name in settings.connections:
        container.providers[name] = build_provider(settings, name, client)
    return container
