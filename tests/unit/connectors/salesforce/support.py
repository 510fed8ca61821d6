"""What the Salesforce connector tests share: the emulator's URL, the connected app, the
owners' ids, the JWT bearer auth built over a test client, and one stored record."""

from __future__ import annotations

from typing import Any

import httpx

from inkbridge.connectors.salesforce.connector import SalesforceJwtAuth, SalesforceOptions
from inkbridge_emulators.salesforce import SalesforceEmulator

BASE = "http://salesforce.test"
CLIENT_ID = "emulator-connected-app"
USERNAME = "integration@inkbridge.example"
USER_7 = "005000000000007AAA"
USER_8 = "005000000000008AAA"
OPTIONS = SalesforceOptions(owners={"owner-7": USER_7, "owner-8": USER_8})


def jwt_auth(client: httpx.AsyncClient, key_pair: tuple[str, str], **kw: Any) -> SalesforceJwtAuth:
    return SalesforceJwtAuth(
        client_id=CLIENT_ID,
        username=kw.pop("username", USERNAME),
        private_key_pem=key_pair[0],
        login_url=BASE,
        client=client,
        **kw,
    )


def only(sf: SalesforceEmulator, sobject: str) -> dict[str, Any]:
    (record,) = sf.org.records(sobject)
    return record
