"""The processors of the data map: each provider connection and destination, the hosts
inkbridge sends its data to (from ``api_url``/``url`` or the vendor's default) and the regions
whose data it receives. Read from the configuration alone, never from a running client.

Every provider and destination kind of the registries has an entry here (a test checks it),
so a new vendor cannot slip into the map without its hosts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from inkbridge.config import ConnectionSettings, DestinationSettings, Settings
from inkbridge.connectors.hubspot.connector import DEFAULT_URL as HUBSPOT_URL
from inkbridge.connectors.pipedrive.connector import DEFAULT_URL as PIPEDRIVE_URL
from inkbridge.connectors.salesforce.connector import DEFAULT_LOGIN_URL as SALESFORCE_LOGIN
from inkbridge.providers.documenso.client import DEFAULT_BASE_URL as DOCUMENSO_URL
from inkbridge.providers.docuseal.client import DEFAULT_BASE_URL as DOCUSEAL_URL
from inkbridge.providers.dropbox_sign.client import DEFAULT_BASE_URL as DROPBOX_SIGN_URL
from inkbridge.providers.pandadoc.client import DEFAULT_BASE_URL as PANDADOC_URL

# Written inline where the vendor's client is built; the same defaults.
DOCUSIGN_URL = "https://demo.docusign.net/restapi"
DOCUSIGN_AUTH_URL = "https://account-d.docusign.com"
ACROBAT_SIGN_URL = "https://api.na1.adobesign.com"
ENTRA_ID_LOGIN = "https://login.microsoftonline.com"


@dataclass(frozen=True)
class Processor:
    """One party inkbridge exchanges personal data with."""

    name: str  # connection:NAME or destination:NAME
    kind: str  # provider or destination
    vendor: str  # the provider or destination kind
    hosts: tuple[str, ...]  # where inkbridge sends to; empty: it only receives (webhooks)
    regions: tuple[str, ...]


def host_of(url: str | None) -> str | None:
    """``host[:port]`` of a URL, never its user or password."""
    if not url:
        return None
    parts = urlsplit(url)
    if parts.hostname is None:
        return None
    return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname


def _hosts(*urls: str | None) -> tuple[str, ...]:
    return tuple(sorted({h for h in (host_of(u) for u in urls) if h}))


def _webhooks_only(conn: ConnectionSettings) -> bool:
    return conn.api_url is None and conn.api_key is None and not conn.options


def _api(default: str, *extra: str) -> Callable[[Settings, ConnectionSettings], tuple[str, ...]]:
    def hosts(_settings: Settings, conn: ConnectionSettings) -> tuple[str, ...]:
        if _webhooks_only(conn):
            return ()
        return _hosts(conn.api_url or default, *extra)

    return hosts


def _docusign(_settings: Settings, conn: ConnectionSettings) -> tuple[str, ...]:
    if _webhooks_only(conn):
        return ()
    auth = conn.options.get("auth_url", DOCUSIGN_AUTH_URL)
    return _hosts(conn.api_url or DOCUSIGN_URL, str(auth))


def _sandbox(settings: Settings, conn: ConnectionSettings) -> tuple[str, ...]:
    return _hosts(conn.api_url or settings.server.base_url)


CONNECTION_HOSTS: dict[str, Callable[[Settings, ConnectionSettings], tuple[str, ...]]] = {
    "sandbox": _sandbox,
    "standard_webhooks": lambda _settings, _conn: (),  # receives webhooks, has no API client
    "docusign": _docusign,
    "dropbox_sign": _api(DROPBOX_SIGN_URL),
    "acrobat_sign": _api(ACROBAT_SIGN_URL),
    "pandadoc": _api(PANDADOC_URL),
    "documenso": _api(DOCUMENSO_URL),
    "docuseal": _api(DOCUSEAL_URL),
}


def _url_or(default: str | None) -> Callable[[Settings, DestinationSettings], tuple[str, ...]]:
    return lambda _settings, dest: _hosts(dest.url or default)


def _local(settings: Settings, dest: DestinationSettings) -> tuple[str, ...]:
    return _hosts(dest.url or settings.server.base_url)


def _salesforce(_settings: Settings, dest: DestinationSettings) -> tuple[str, ...]:
    return _hosts(dest.url, str(dest.options.get("login_url", SALESFORCE_LOGIN)))


def _dynamics(_settings: Settings, dest: DestinationSettings) -> tuple[str, ...]:
    return _hosts(dest.url, str(dest.options.get("token_url", ENTRA_ID_LOGIN)))


def _marketo(_settings: Settings, dest: DestinationSettings) -> tuple[str, ...]:
    munchkin = dest.options.get("munchkin_id")
    return _hosts(dest.url or (f"https://{munchkin}.mktorest.com" if munchkin else None))


DESTINATION_HOSTS: dict[str, Callable[[Settings, DestinationSettings], tuple[str, ...]]] = {
    "sandbox_crm": _local,
    "sandbox_marketing": _local,
    "webhook": _url_or(None),
    "hubspot": _url_or(HUBSPOT_URL),
    "salesforce": _salesforce,
    "dynamics": _dynamics,
    "pipedrive": _url_or(PIPEDRIVE_URL),
    "marketo": _marketo,
    "mautic": _url_or(None),
}


def processors(settings: Settings) -> list[Processor]:
    """Every connection and destination of ``settings``, sorted by name."""
    found = [
        Processor(
            name=f"connection:{name}",
            kind="provider",
            vendor=conn.provider,
            hosts=CONNECTION_HOSTS[conn.provider](settings, conn),
            regions=(conn.region,),
        )
        for name, conn in settings.connections.items()
    ]
    found.extend(
        Processor(
            name=f"destination:{name}",
            kind="destination",
            vendor=dest.kind,
            hosts=DESTINATION_HOSTS[dest.kind](settings, dest),
            regions=tuple(sorted(set(dest.regions))),
        )
        for name, dest in settings.destinations.items()
    )
    return sorted(found, key=lambda p: p.name)
