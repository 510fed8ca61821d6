"""The one composition root: settings in, a wired container out. Production and tests share it;
tests pass their own settings (and, if they like, their own HTTP client).

Each service is built here once, with exactly what it needs; only this module (and the entry
points that hold the container: api, web, cli, worker) knows the container. The services share
the ``providers`` and ``destinations`` dicts, so a test that swaps a client in sees it used."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from sqlalchemy import inspect

from inkbridge import telemetry
from inkbridge.config import (
    DestinationSettings,
    Settings,
    resolve_secret,
)
from inkbridge.connectors import registry as connector_registry
from inkbridge.connectors.throttle import ThrottledTransport
from inkbridge.connectors.twin import TwinnedConnector

# Re-exported: the sandbox mounts and tests read where the sandbox apps live from here.
from inkbridge.local_site import SANDBOX_CRM_PATH as SANDBOX_CRM_PATH
from inkbridge.local_site import SANDBOX_MARKETING_PATH as SANDBOX_MARKETING_PATH
from inkbridge.local_site import SANDBOX_PROVIDER_PATH as SANDBOX_PROVIDER_PATH
from inkbridge.local_site import LocalSite
from inkbridge.privacy.configured_keys import region_keys
from inkbridge.providers import registry as provider_registry
from inkbridge.providers.base import ProviderClient
from inkbridge.providers.registry import ConnectionBinding, build_bindings
from inkbridge.sandbox.twin import SandboxTwin, twin_path
from inkbridge.services.destination_quota import SharedQuota
from inkbridge.services.documents import Documents, document_url
from inkbridge.services.envelopes import Envelopes
from inkbridge.services.event_handlers import envelope_handlers
from inkbridge.services.journeys import journey_rules
from inkbridge.services.processing import ReceiptProcessor
from inkbridge.services.receipt_residency import ReceiptResidency
from inkbridge.services.reconcile import RECONCILE_SOURCE, Reconciler, StatusReports
from inkbridge.services.routing import Destination
from inkbridge.services.signer_sessions import SignerSessions
from inkbridge.services.triggers import Triggers
from inkbridge.store import data_keys, migrate
from inkbridge.store.database import Databases

if TYPE_CHECKING:
    from inkbridge.services.console_oidc import OidcSignIn


@dataclass
class Services:
    """The services of one process, each built once by ``bootstrap``."""

    receipts: ReceiptProcessor
    reconciler: Reconciler
    envelopes: Envelopes
    signer_sessions: SignerSessions
    triggers: Triggers
    documents: Documents
    # The console's single sign-on, when [console.oidc] is configured.
    console_oidc: OidcSignIn | None = None


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
        telemetry.TRACING.flush()


def build_connector(
    settings: Settings, name: str, dest: DestinationSettings, http: httpx.AsyncClient
) -> Destination:
    """The connector of a destination, built by its kind's record in the connector registry."""
    kind = connector_registry.kind_of(name, dest)
    connector = kind.build(name, dest, http, local_site(settings))
    if dest.golive_twin == "sandbox":
        # The changes about golive's test leads go to the sandbox twin, never to the vendor.
        twin = SandboxTwin(name, twin_path(settings.data_dir, name))
        connector = TwinnedConnector(connector, twin)
    return Destination(name=name, settings=dest, connector=connector, coalesce=kind.coalesce)


def local_site(settings: Settings) -> LocalSite:
    """This server as the sandbox vendors' clients reach it."""
    return LocalSite(
        base_url=settings.server.base_url,
        sandbox_credential=lambda connection: sandbox_credential(settings, connection),
    )


def sandbox_credential(settings: Settings, connection: str) -> str | None:
    """The sandbox service credential the clients of a sandbox connection present: derived
    from its current secret (never an admin token). None when it has no secret."""
    from inkbridge.sandbox.guard import service_credential

    conn = settings.connections.get(connection)
    if conn is None or not conn.secrets:
        return None
    return service_credential(resolve_secret(conn.secrets[0]).get_secret_value())


def build_provider(
    settings: Settings, connection: str, http: httpx.AsyncClient
) -> ProviderClient | None:
    """The API client of a connection, or None when it only receives webhooks."""
    conn = settings.connections[connection]
    return provider_registry.build_client(connection, conn, http, local_site(settings))


def sandbox_state_dir(settings: Settings) -> Path:
    return settings.data_dir / "sandbox"


def region_databases(settings: Settings) -> Databases:
    """Every region's database, each carrying its region's keys (configured or managed)."""
    return Databases(
        {region: settings.database_url(region) for region in settings.regions},
        home_region=settings.home_region,
        keys=region_keys(settings),
    )


def check_region_keys(databases: Databases) -> None:
    """Refuse to start on a database whose data keys need a key that is not configured: one
    clear error naming the region and key id, rather than failures on every read."""
    for db in databases:
        if not inspect(db.engine).has_table("data_keys"):
            continue  # not migrated yet: nothing is wrapped
        with db.reader() as conn:
            data_keys.check_keys(conn, db.keyring.keys)


def bootstrap(
    settings: Settings,
    *,
    http: httpx.AsyncClient | None = None,
    auto_migrate: bool = False,
) -> Container:
    """Wire everything from settings. Refuses an unmigrated database unless told to migrate."""
    telemetry.configure(settings.telemetry)
    databases = region_databases(settings)
    if auto_migrate:
        migrate.upgrade_all(databases)
    else:
        migrate.ensure_migrated(databases)
    check_region_keys(databases)
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
                    # Every process of the deployment spends one budget, kept in the home
                    # region's database (it holds no personal data).
                    SharedQuota.for_limit(
                        databases.home,
                        name,
                        dest.rate_limit_requests,
                        dest.rate_limit_window_seconds,
                    ),
                    destination=name,
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
        lambda envelope_id: document_url(base_url, envelope_id),
    )
    envelopes = Envelopes(databases, providers, settings.templates, settings.connections)
    return Services(
        receipts=ReceiptProcessor(
            bindings,
            {RECONCILE_SOURCE: StatusReports()},
            handlers,
            settings.worker,
            ReceiptResidency(databases),
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
        documents=Documents(databases, providers),
        console_oidc=console_oidc(settings, databases),
    )


def console_oidc(settings: Settings, databases: Databases) -> OidcSignIn | None:
    oidc = settings.console.oidc
    if oidc is None:
        return None
    # Imported only when configured: the OpenID Connect client weighs about 8 MB.
    from inkbridge.services.console_oidc import OidcSignIn

    secret = resolve_secret(oidc.client_secret).get_secret_value()
    return OidcSignIn(databases, oidc, secret, settings.server.base_url)
