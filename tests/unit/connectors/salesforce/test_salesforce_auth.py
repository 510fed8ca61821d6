"""Salesforce's client credentials flow and the connector built from [destinations.NAME]
settings (the JWT session cached, refreshed and refused as every CRM's token is:
../test_crm_vendors.py)."""

from __future__ import annotations

from typing import Any

import httpx

from inkbridge.config import DestinationSettings
from inkbridge.connectors.salesforce.connector import (
    SalesforceClientCredentials,
    SalesforceConnector,
    from_settings,
    soql_quote,
)
from inkbridge_emulators.salesforce import SalesforceEmulator

from ..payloads import envelope_change, lead_change
from .support import BASE, CLIENT_ID, OPTIONS, USER_7, USERNAME, only


async def test_client_credentials_work_too(
    client: httpx.AsyncClient, sf: SalesforceEmulator
) -> None:
    auth = SalesforceClientCredentials(
        client_id=CLIENT_ID, client_secret="emulator-secret", login_url=BASE, client=client
    )
    connector = SalesforceConnector(name="salesforce", client=client, auth=auth, options=OPTIONS)

    result = await connector.apply([lead_change(1)])

    assert result.results[0].ok
    assert sf.token_exchanges == 1


async def test_from_settings_builds_the_jwt_flow(
    client: httpx.AsyncClient,
    key_pair: tuple[str, str],
    sf: SalesforceEmulator,
    tmp_path: Any,
) -> None:
    key_file = tmp_path / "sf.pem"
    key_file.write_text(key_pair[0])
    dest = DestinationSettings(
        kind="salesforce",
        credentials={"private_key": f"file:{key_file}"},
        options={
            "client_id": CLIENT_ID,
            "username": USERNAME,
            "login_url": BASE,
            "owners": {"owner-7": USER_7},
        },
        fields={"envelope_status": "Status__c"},
        batch_size=1000,
    )

    connector = from_settings("crm", dest, client)
    result = await connector.apply([envelope_change(1, "sent")])

    assert connector.max_batch == 200
    assert result.results[0].ok
    assert only(sf, "Inkbridge_Envelope__c")["Status__c"] == "sent"


def test_soql_literals_cannot_break_out_of_the_query() -> None:
    assert soql_quote("o'brien\\") == "'o\\'brien\\\\'"
