"""The Dynamics 365 client-credentials token (cached, refreshed, refused) and the connector
built from [destinations.NAME] settings."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from inkbridge.config import DestinationSettings
from inkbridge.connectors.dynamics.connector import from_settings
from inkbridge.errors import ConfigError, PermanentError
from inkbridge_emulators.dynamics import DynamicsEmulator

from ..payloads import envelope_change, task_change
from .support import BASE, ENVELOPES, TOKEN_URL, USER_7, auth, connector, only


async def test_the_token_is_cached_and_refreshed_once_after_a_401(
    client: httpx.AsyncClient, dyn: DynamicsEmulator
) -> None:
    token_source = auth(client)
    dynamics = connector(client, token_source=token_source)

    await dynamics.apply([task_change(1, "t1")])
    await dynamics.apply([task_change(2, "t2")])
    assert token_source.exchanges == 1
    await client.post("/_tokens/expire")
    result = await dynamics.apply([task_change(3, "t3")])

    assert result.results[0].ok
    assert token_source.exchanges == dyn.token_exchanges == 2


async def test_a_wrong_client_secret_is_permanent(client: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentError) as caught:
        await connector(client, token_source=auth(client, "wrong")).apply([task_change(1)])

    assert "invalid_client" in caught.value.reason


async def test_from_settings_reads_credentials_and_options(
    client: httpx.AsyncClient, dyn: DynamicsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DYN_SECRET", "emulator-secret")
    dest = DestinationSettings(
        kind="dynamics",
        url=BASE,
        credentials={"client_secret": "env:DYN_SECRET"},
        options={
            "tenant_id": "emulator-tenant",
            "client_id": "emulator-app",
            "token_url": TOKEN_URL,
            "owners": {"owner-7": USER_7},
        },
        batch_size=5000,
    )

    dynamics = from_settings("crm", dest, client)
    result = await dynamics.apply([envelope_change(1, "sent")])

    assert dynamics.max_batch == 300
    assert result.results[0].ok
    assert only(dyn, ENVELOPES)["inkbridge_status"] == "sent"


@pytest.mark.parametrize(
    "url,options",
    [
        (None, {"tenant_id": "t", "client_id": "c"}),
        (BASE, {"client_id": "c"}),
        (BASE, {"tenant_id": "t", "client_id": "c", "owners": {"owner-7": "not-a-guid"}}),
    ],
)
def test_from_settings_refuses_incomplete_config(
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    url: str | None,
    options: dict[str, Any],
) -> None:
    monkeypatch.setenv("X", "x")
    dest = DestinationSettings(
        kind="dynamics", url=url, credentials={"client_secret": "env:X"}, options=options
    )

    with pytest.raises(ConfigError):
        from_settings("crm", dest, client)
