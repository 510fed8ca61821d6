"""What the Dynamics 365 connector tests share: the emulator's URLs, the owners' ids, the
connector and its token source built over a test client, and one stored row."""

from __future__ import annotations

from typing import Any

import httpx

from inkbridge.connectors.dynamics.connector import DynamicsAuth, DynamicsConnector, DynamicsOptions
from inkbridge_emulators.dynamics import DynamicsEmulator

BASE = "http://dynamics.test"
TOKEN_URL = f"{BASE}/emulator-tenant/oauth2/v2.0/token"
USER_7 = "00000000-0000-0000-0000-000000000007"
USER_8 = "00000000-0000-0000-0000-000000000008"
OPTIONS = DynamicsOptions(owners={"owner-7": USER_7, "owner-8": USER_8})
ENVELOPES = "inkbridge_envelopestatuses"


def auth(client: httpx.AsyncClient, secret: str = "emulator-secret") -> DynamicsAuth:
    return DynamicsAuth(
        token_url=TOKEN_URL,
        client_id="emulator-app",
        client_secret=secret,
        scope=f"{BASE}/.default",
        client=client,
    )


def connector(
    client: httpx.AsyncClient, options: DynamicsOptions = OPTIONS, **kw: Any
) -> DynamicsConnector:
    return DynamicsConnector(
        name="dynamics",
        org_url=BASE,
        client=client,
        auth=kw.pop("token_source", None) or auth(client),
        options=options,
        **kw,
    )


def only(dyn: DynamicsEmulator, entity_set: str) -> dict[str, Any]:
    (row,) = dyn.dataverse.records(entity_set)
    return row
