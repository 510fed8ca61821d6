"""Salesforce sessions (JWT bearer and client credentials: cached, refreshed, refused) and
the connector built from [destinations.NAME] settings."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from inkbridge.config import DestinationSettings
from inkbridge.connectors.salesforce.connector import (
    SalesforceClientCredentials,
    SalesforceConnector,
    from_settings,
    soql_quote,
)
from inkbridge.errors import ConfigError, PermanentError
from inkbridge_emulators.salesforce import SalesforceEmulator

from ..payloads import envelope_change, lead_change
from .support import BASE, CLIENT_ID, OPTIONS, USER_7, USERNAME, jwt_auth, only


async def test_the_session_is_cached_and_refreshed_once_after_invalid_session_id(
    client: httpx.AsyncClient, key_pair: tuple[str, str], sf: SalesforceEmulator
) -> None:
    auth = jwt_auth(client, key_pair)
    connector = SalesforceConnector(name="salesforce", client=client, auth=auth, options=OPTIONS)

    await connector.apply([lead_change(1)])
    await connector.apply([lead_change(2)])
    assert auth.exchanges == 1
    await client.post("/_sessions/expire")
    result = await connector.apply([lead_change(3)])

    assert result.results[0].ok
    assert auth.exchanges == sf.token_exchanges == 2


async def test_a_jwt_for_an_unknown_user_is_permanent(
    client: httpx.AsyncClient, key_pair: tuple[str, str]
) -> None:
    auth = jwt_auth(client, key_pair, username="someone@else.example")
    connector = SalesforceConnector(name="salesforce", client=client, auth=auth)

    with pytest.raises(PermanentError) as caught:
        await connector.apply([lead_change(1)])

    assert "invalid_grant" in caught.value.reason


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


@pytest.mark.parametrize(
    "credentials,options",
    [
        ({}, {"client_id": "x"}),
        ({"client_secret": "env:X"}, {"client_id": "x"}),  # client credentials need My Domain
        ({"private_key": "env:X"}, {"client_id": "x"}),  # JWT needs a username
        (
            {"client_secret": "env:X"},
            {
                "client_id": "x",
                "login_url": "https://a.my.salesforce.com",
                "person_object": "Account",
            },
        ),
    ],
)
def test_from_settings_refuses_incomplete_config(
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    credentials: dict[str, str],
    options: dict[str, Any],
) -> None:
    monkeypatch.setenv("X", "x")
    dest = DestinationSettings(kind="salesforce", credentials=credentials, options=options)

    with pytest.raises(ConfigError):
        from_settings("crm", dest, client)


def test_soql_literals_cannot_break_out_of_the_query() -> None:
    assert soql_quote("o'brien\\") == "'o\\'brien\\\\'"
