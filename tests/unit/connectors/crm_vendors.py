"""The CRM connectors (Dynamics 365, HubSpot, Salesforce) as one table for the tests every
vendor must pass alike: each vendor's emulator app, the token source the connector refreshes
(and one the vendor refuses), the connector built over a test client, and a change to apply."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any, NamedTuple

import httpx
import pytest
from starlette.applications import Starlette

from inkbridge.connectors.base import Change, Connector
from inkbridge.connectors.hubspot.auth import HubSpotOAuth
from inkbridge.connectors.salesforce.connector import SalesforceConnector
from inkbridge_emulators.dynamics import create_dynamics_app
from inkbridge_emulators.hubspot import create_hubspot_app
from inkbridge_emulators.salesforce import create_salesforce_app
from tests.support.keys import rsa_pem

from .dynamics import support as dyn
from .hubspot import support as hub
from .payloads import lead_change, task_change
from .salesforce import support as sf
from .vendor_tables import Vendor


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


class Paths(NamedTuple):
    expire: str
    timeout: str
    task: str


@dataclass(frozen=True)
class CrmVendor(Vendor):
    """One CRM vendor as the shared tests drive it.

    ``auth`` is a token source the emulator grants (it counts its ``exchanges``), ``refused``
    one it refuses with ``refusal`` in the reason; ``paths`` are the emulator's control path
    that ends the tokens it gave out, a request the connector makes on every apply and the
    one that writes a task; ``tasks`` reads the tasks stored in the emulator's state (on the
    app under the vendor's name)."""

    auth: Callable[[httpx.AsyncClient], Any]
    refused: Callable[[httpx.AsyncClient], Any]
    refusal: str
    connector: Callable[[httpx.AsyncClient, Any], Connector]
    paths: Paths
    tasks: Callable[[Any], list[dict[str, Any]]]
    change: Callable[[int], Change]

    def emulator(self, app: Starlette) -> Any:
        return getattr(app.state, self.name)

    def folder_fixtures(self, emulator_name: str) -> tuple[Any, Any, Any]:
        """The fixtures of the vendor's own test folder: ``base_url``, ``app`` and the
        emulator's state under ``emulator_name``."""

        @pytest.fixture
        def base_url() -> str:
            return self.base

        @pytest.fixture
        def app() -> Starlette:
            return self.create_app()

        @pytest.fixture(name=emulator_name)
        def emulator(app: Starlette) -> Any:
            return self.emulator(app)

        return base_url, app, emulator


DYNAMICS = CrmVendor(
    name="dynamics",
    create_app=lambda: create_dynamics_app(None),
    auth=dyn.auth,
    refused=lambda client: dyn.auth(client, "wrong"),
    refusal="invalid_client",
    connector=lambda client, auth: dyn.connector(client, token_source=auth),
    paths=Paths(expire="/_tokens/expire", timeout="$batch", task="$batch"),
    tasks=lambda emulator: emulator.dataverse.records("tasks"),
    change=lambda n: task_change(n, f"t{n}"),
)

HUBSPOT = CrmVendor(
    name="hubspot",
    create_app=lambda: create_hubspot_app(None),
    auth=lambda client: hubspot_oauth(client, "emulator-refresh"),
    refused=lambda client: hubspot_oauth(client, "stolen"),
    refusal="BAD_REFRESH_TOKEN",
    connector=lambda client, auth: hub.connector(client, auth=auth),
    paths=Paths(expire="/_tokens/expire", timeout="/batch/upsert", task="/crm/v3/objects/tasks"),
    tasks=lambda emulator: emulator.crm.records("tasks"),
    change=lead_change,
)

SALESFORCE = CrmVendor(
    name="salesforce",
    create_app=lambda: create_salesforce_app(None, public_key_pem=key_pair()[1]),
    auth=lambda client: sf.jwt_auth(client, key_pair()),
    refused=lambda client: sf.jwt_auth(client, key_pair(), username="someone@else.example"),
    refusal="invalid_grant",
    connector=lambda client, auth: SalesforceConnector(
        name="salesforce", client=client, auth=auth, options=sf.OPTIONS
    ),
    paths=Paths(
        expire="/_sessions/expire", timeout="/composite/", task="/composite/sobjects/Task/"
    ),
    tasks=lambda emulator: emulator.org.records("Task"),
    change=lead_change,
)

VENDORS = (DYNAMICS, HUBSPOT, SALESFORCE)
