"""The marketing connectors (Marketo, Mautic, Pipedrive) as one table for the tests every
vendor must pass alike: each vendor's emulator app, the connector over a test client with the
credential the emulator accepts (or a wrong secret)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx
from starlette.applications import Starlette

from inkbridge.connectors.base import Connector
from inkbridge.connectors.marketo.connector import MarketoConnector
from inkbridge.connectors.mautic.connector import MauticConnector
from inkbridge.connectors.pipedrive.connector import PipedriveConnector
from inkbridge_emulators import marketo, mautic, pipedrive

from .vendor_tables import Vendor

# A deal field key (40 hex digits) to find inkbridge's deals by.
PIPEDRIVE_KEY_FIELD = "9f1c0e1b2a3d4c5e6f708192a3b4c5d6e7f80912"


@dataclass(frozen=True)
class MarketingVendor(Vendor):
    """One marketing vendor as the shared tests drive it: ``connect`` takes the emulator's URL,
    the client and the secret to sign in with (``secret`` is the one the emulator accepts)."""

    connect: Callable[[str, httpx.AsyncClient, str], Connector]
    secret: str

    def connector(self, client: httpx.AsyncClient, secret: str) -> Connector:
        return self.connect(self.base, client, secret)

    def emulator(self, app: Starlette) -> Any:
        return app.state.emulator


def client_credentials(
    kind: Callable[..., Connector],
    name: str,
    client_id: str,
    base: str,
    client: httpx.AsyncClient,
    secret: str,
) -> Connector:
    """A connector of ``kind`` signing in with OAuth2 client credentials."""
    return kind(name, base, client, client_id=client_id, client_secret=secret)


MARKETO = MarketingVendor(
    name="marketo",
    create_app=marketo.create_marketo_app,
    connect=partial(client_credentials, MarketoConnector, "marketo", marketo.DEFAULT_CLIENT_ID),
    secret=marketo.DEFAULT_CLIENT_SECRET,
)

MAUTIC = MarketingVendor(
    name="mautic",
    create_app=mautic.create_mautic_app,
    connect=partial(client_credentials, MauticConnector, "mautic", mautic.DEFAULT_CLIENT_ID),
    secret=mautic.DEFAULT_CLIENT_SECRET,
)

PIPEDRIVE = MarketingVendor(
    name="pipedrive",
    create_app=pipedrive.create_pipedrive_app,
    connect=lambda base, client, token: PipedriveConnector(
        "pipedrive", base, client, key_field=PIPEDRIVE_KEY_FIELD, api_token=token
    ),
    secret=pipedrive.DEFAULT_API_TOKEN,
)

VENDORS = (MARKETO, MAUTIC, PIPEDRIVE)
