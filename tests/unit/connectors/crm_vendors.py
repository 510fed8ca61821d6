"""The CRM connectors (Dynamics 365, HubSpot, Salesforce) as one table for the tests every
vendor must pass alike: each vendor's emulator app, the token source the connector refreshes
(and one the vendor refuses), the connector built over a test client, and a change to apply."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpx
from starlette.applications import Starlette

from inkbridge.config import DestinationSettings
from inkbridge.connectors.base import Change, Connector
from inkbridge.connectors.dynamics.connector import from_settings as dynamics_from_settings
from inkbridge.connectors.hubspot.auth import HubSpotOAuth
from inkbridge.connectors.hubspot.settings import from_settings as hubspot_from_settings
from inkbridge.connectors.salesforce.connector import SalesforceConnector
from inkbridge.connectors.salesforce.connector import from_settings as salesforce_from_settings
from inkbridge_emulators.dynamics import create_dynamics_app
from inkbridge_emulators.hubspot import create_hubspot_app
from inkbridge_emulators.salesforce import create_salesforce_app
from tests.support.keys import rsa_pem

from .dynamics import support as dyn
from .hubspot import support as hub
from .payloads import lead_change, task_change
from .salesforce import support as sf

FromSettings = Callable[[str, DestinationSettings, httpx.AsyncClient], Connector]


@cache
def key_pair() -> tuple[str, str]:
    """One RSA key pair for Salesforce's JWT flow in a test run (making one takes a while)."""
    return rsa_pem()


def hubspot_oauth(client: httpx.AsyncClient, refresh_token: str) -> HubSpotOAuth:
    return HubSpotOAuth(
        token_url=hub.BASE + "/oauth/v1/token",
        client_id="emulator-client",
        client_secret="emulator-secret",
        refresh_token=refresh_token,
        client=client,
    )


@dataclass(frozen=True)
class CrmVendor:
    """One CRM vendor as the shared tests drive it.

    ``auth`` is a token source the emulator grants (it counts its ``exchanges``), ``refused``
    one it refuses with ``refusal`` in the reason; ``expire`` is the emulator's control path
    that ends the tokens it gave out; ``timeout_path`` a request the connector makes on every
    apply; ``state`` the emulator's state object on the app."""

    name: str
    base: str
    create_app: Callable[[], Starlette]
    state: str
    auth: Callable[[httpx.AsyncClient], Any]
    refused: Callable[[httpx.AsyncClient], Any]
    refusal: str
    connector: Callable[[httpx.AsyncClient, Any], Connector]
    from_settings: FromSettings
    expire: str
    timeout_path: str
    change: Callable[[int], Change]

    def emulator(self, app: Starlette) -> Any:
        return getattr(app.state, self.state)


DYNAMICS = CrmVendor(
    name="dynamics",
    base=dyn.BASE,
    create_app=lambda: create_dynamics_app(None),
    state="dynamics",
    auth=dyn.auth,
    refused=lambda client: dyn.auth(client, "wrong"),
    refusal="invalid_client",
    connector=lambda client, auth: dyn.connector(client, token_source=auth),
    from_settings=dynamics_from_settings,
    expire="/_tokens/expire",
    timeout_path="$batch",
    change=lambda n: task_change(n, f"t{n}"),
)

HUBSPOT = CrmVendor(
    name="hubspot",
    base=hub.BASE,
    create_app=lambda: create_hubspot_app(None),
    state="hubspot",
    auth=lambda client: hubspot_oauth(client, "emulator-refresh"),
    refused=lambda client: hubspot_oauth(client, "stolen"),
    refusal="BAD_REFRESH_TOKEN",
    connector=lambda client, auth: hub.connector(client, auth=auth),
    from_settings=hubspot_from_settings,
    expire="/_tokens/expire",
    timeout_path="/batch/upsert",
    change=lead_change,
)

SALESFORCE = CrmVendor(
    name="salesforce",
    base=sf.BASE,
    create_app=lambda: create_salesforce_app(None, public_key_pem=key_pair()[1]),
    state="salesforce",
    auth=lambda client: sf.jwt_auth(client, key_pair()),
    refused=lambda client: sf.jwt_auth(client, key_pair(), username="someone@else.example"),
    refusal="invalid_grant",
    connector=lambda client, auth: SalesforceConnector(
        name="salesforce", client=client, auth=auth, options=sf.OPTIONS
    ),
    from_settings=salesforce_from_settings,
    expire="/_sessions/expire",
    timeout_path="/composite/",
    change=lead_change,
)

VENDORS = (DYNAMICS, HUBSPOT, SALESFORCE)
