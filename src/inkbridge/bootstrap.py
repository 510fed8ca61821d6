"""The one composition root: settings in, a wired container out. Production and tests share it;
tests pass their own settings (and, if they like, their own HTTP client).

Each service is built here once, with exactly what it needs; only this module (and the entry
points that hold the container: api, web, cli, worker) knows the container. The services share
the ``providers`` and ``destinations`` dicts, so a test that swaps a client in sees it used."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx

from inkbridge.config import (
    SANDBOX_CONNECTION,
    ConnectionSettings,
    DestinationSettings,
    Settings,
    resolve_secret,
)
from inkbridge.connectors.base import Connector
from inkbridge.connectors.throttle import ThrottledTransport, bucket_for
from inkbridge.errors import ConfigError
from inkbridge.providers.base import ProviderClient
from inkbridge.providers.registry import ConnectionBinding, build_bindings
from inkbridge.services.envelopes import Envelopes
from inkbridge.services.event_handlers import envelope_handlers
from inkbridge.services.journeys import journey_rules
from inkbridge.services.processing import ReceiptProcessor
from inkbridge.services.reconcile import RECONCILE_SOURCE, Reconciler, StatusReports
from inkbridge.services.routing import Destination
from inkbridge.services.signer_sessions import SignerSessions
from inkbridge.services.triggers import Triggers
from inkbridge.store import migrate
from inkbridge.store.database import Databases

SANDBOX_PROVIDER_PATH = "/sandbox/provider"
SANDBOX_CRM_PATH = "/sandbox/crm"
SANDBOX_MARKETING_PATH = "/sandbox/marketing"


@dataclass
class Services:
    """The services of one process, each built once by ``bootstrap``."""

    receipts: ReceiptProcessor
    reconciler: Reconciler
    envelopes: Envelopes
    signer_sessions: SignerSessions
    triggers: Triggers


@dataclass
class Container:
    settings: Settings
    databases: Databases
    bindings: Mapping[str, ConnectionBinding]
    http: httpx.AsyncClient
    services: Services
    providers: dict[str, ProviderClient] = field(default_factory=dict)
    destinations: dict[str, Destination] = field(default_factory=dict)
    extra_clients: list[httpx.AsyncClient] = field(default_factory=list)

    async def aclose(self) -> None:
        await self.http.aclose()
        for extra in self.extra_clients:
            await extra.aclose()
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
    """The connector of a destination: sandbox and webhook here, vendors by module convention
    (``inkbridge.connectors.<kind>.from_settings(name, dest, client)``)."""
    from inkbridge.connectors.sandbox_crm import SandboxCrmConnector
    from inkbridge.connectors.webhook import OutboundWebhookConnector

    if dest.kind in {"sandbox_crm", "sandbox_marketing"}:
        connector: Connector = SandboxCrmConnector(
            name=name,
            base_url=_destination_url(settings, dest),
            client=http,
            max_batch=min(dest.batch_size, 100),
            service_credential=sandbox_credential(settings, SANDBOX_CONNECTION),
        )
        return Destination(name=name, settings=dest, connector=connector, coalesce=True)
    if dest.kind == "webhook":
        if not dest.secret:
            raise ConfigError(f"webhook destination {name!r} needs a secret reference")
        connector = OutboundWebhookConnector(
            name=name,
            url=_destination_url(settings, dest),
            secret=resolve_secret(dest.secret).get_secret_value(),
            client=http,
        )
        return Destination(name=name, settings=dest, connector=connector, coalesce=False)
    try:
        module = importlib.import_module(f"inkbridge.connectors.{dest.kind}")
    except ModuleNotFoundError as exc:
        raise ConfigError(f"destination {name!r}: no connector for {dest.kind!r}") from exc
    connector = module.from_settings(name, dest, http)
    return Destination(name=name, settings=dest, connector=connector, coalesce=True)


def sandbox_credential(settings: Settings, connection: str) -> str | None:
    """The sandbox service credential the clients of a sandbox connection present: derived
    from its current secret (never an admin token). None when it has no secret."""
    from inkbridge.sandbox.guard import service_credential

    conn = settings.connections.get(connection)
    if conn is None or not conn.secrets:
        return None
    return service_credential(resolve_secret(conn.secrets[0]).get_secret_value())


def _option(connection: str, conn: ConnectionSettings, name: str) -> str:
    value = conn.options.get(name)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"connection {connection!r} needs options.{name}")
    return value


def _secret_option(connection: str, conn: ConnectionSettings, name: str) -> str:
    return resolve_secret(_option(connection, conn, name)).get_secret_value()


def _api_key(connection: str, conn: ConnectionSettings) -> str:
    if not conn.api_key:
        raise ConfigError(f"connection {connection!r} needs api_key (a secret reference)")
    return resolve_secret(conn.api_key).get_secret_value()


def build_provider(
    settings: Settings, connection: str, http: httpx.AsyncClient
) -> ProviderClient | None:
    """The API client of a connection, or None when it only receives webhooks."""
    conn = settings.connections[connection]
    if conn.provider == "sandbox":
        from inkbridge.providers.sandbox import SandboxProviderClient

        url = (conn.api_url or settings.server.base_url + SANDBOX_PROVIDER_PATH).rstrip("/")
        return SandboxProviderClient(
            base_url=url, client=http, service_credential=sandbox_credential(settings, connection)
        )
    if conn.provider == "standard_webhooks":
        return None
    if conn.api_url is None and conn.api_key is None and not conn.options:
        return None  # webhooks only: no sending, no reconciliation
    if conn.provider == "docusign":
        from inkbridge.providers.docusign_client import DocuSignClient

        return DocuSignClient(
            conn.api_url or "https://demo.docusign.net/restapi",
            _option(connection, conn, "account_id"),
            _option(connection, conn, "integration_key"),
            _option(connection, conn, "user_id"),
            _secret_option(connection, conn, "private_key"),
            str(conn.options.get("auth_url", "https://account-d.docusign.com")),
            http,
            default_return_url=conn.options.get("default_return_url"),
        )
    if conn.provider == "dropbox_sign":
        from inkbridge.providers.dropbox_sign_client import DropboxSignClient

        return DropboxSignClient(
            conn.api_url or "https://api.hellosign.com/v3",
            api_key=_api_key(connection, conn),
            client=http,
            test_mode=bool(conn.options.get("test_mode", True)),
            client_id=conn.options.get("client_id"),
        )
    return build_other_provider(connection, conn, http)


def build_other_provider(
    connection: str, conn: ConnectionSettings, http: httpx.AsyncClient
) -> ProviderClient:
    """Acrobat Sign, PandaDoc, Documenso and DocuSeal clients from a connection's settings."""
    if conn.provider == "acrobat_sign":
        from inkbridge.providers.acrobat_sign_client import AcrobatSignClient

        return AcrobatSignClient(
            conn.api_url or "https://api.na1.adobesign.com",
            _option(connection, conn, "client_id"),
            _secret_option(connection, conn, "client_secret"),
            _secret_option(connection, conn, "refresh_token"),
            http,
        )
    if conn.provider == "pandadoc":
        from inkbridge.providers.pandadoc_client import PandaDocClient

        return PandaDocClient(
            conn.api_url or "https://api.pandadoc.com/public/v1",
            api_key=_api_key(connection, conn),
            client=http,
        )
    if conn.provider == "documenso":
        from inkbridge.providers.documenso_client import DocumensoClient

        if not conn.api_url:
            raise ConfigError(f"connection {connection!r} needs api_url (your Documenso origin)")
        return DocumensoClient(conn.api_url, _api_key(connection, conn), http)
    if conn.provider == "docuseal":
        from inkbridge.providers.docuseal_client import DocuSealClient

        return DocuSealClient(
            conn.api_url or "https://api.docuseal.com", _api_key(connection, conn), http
        )
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
    subject_key = None
    if settings.signing.subject_hash_key:
        key = resolve_secret(settings.signing.subject_hash_key).get_secret_value()
        subject_key = key.encode("utf-8")
    destinations: dict[str, Destination] = {}
    extra_clients: list[httpx.AsyncClient] = []
    for name, dest in settings.destinations.items():
        dest_client = client
        if dest.rate_limit_requests and http is None:
            dest_client = httpx.AsyncClient(
                timeout=httpx.Timeout(dest.timeout_seconds),
                transport=ThrottledTransport(
                    httpx.AsyncHTTPTransport(),
                    bucket_for(dest.rate_limit_requests, dest.rate_limit_window_seconds),
                ),
            )
            extra_clients.append(dest_client)
        destinations[name] = build_connector(settings, name, dest, dest_client)
    providers: dict[str, ProviderClient] = {}
    for name in settings.connections:
        provider = build_provider(settings, name, client)
        if provider is not None:
            providers[name] = provider
    bindings = build_bindings(settings)
    return Container(
        settings=settings,
        databases=databases,
        bindings=bindings,
        http=client,
        services=build_services(
            settings, databases, bindings, client, providers, destinations, subject_key
        ),
        providers=providers,
        destinations=destinations,
        extra_clients=extra_clients,
    )


def build_services(
    settings: Settings,
    databases: Databases,
    bindings: Mapping[str, ConnectionBinding],
    http: httpx.AsyncClient,
    providers: dict[str, ProviderClient],
    destinations: dict[str, Destination],
    subject_key: bytes | None = None,
) -> Services:
    """Every service once, each with the parts of the configuration it reads."""
    base_url = settings.server.base_url
    handlers = envelope_handlers(
        destinations,
        journey_rules(settings.journeys),
        settings.templates,
        lambda envelope_id: f"{base_url}/v1/envelopes/{envelope_id}",
    )
    envelopes = Envelopes(databases, providers, settings.templates, settings.connections)
    return Services(
        receipts=ReceiptProcessor(
            bindings, {RECONCILE_SOURCE: StatusReports()}, handlers, settings.worker
        ),
        reconciler=Reconciler(providers, timedelta(seconds=settings.worker.stale_after_seconds)),
        envelopes=envelopes,
        signer_sessions=SignerSessions(
            databases,
            providers,
            settings.templates,
            settings.connections,
            settings.signing,
            subject_key,
            base_url,
        ),
        triggers=Triggers(
            databases, http, settings.triggers, envelopes, settings.worker.lease_seconds
        ),
    )
