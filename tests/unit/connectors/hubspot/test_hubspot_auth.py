"""HubSpot's OAuth token refreshed before it ends and the connector built from
[destinations.NAME] settings (cached, refreshed and refused as every CRM's token is:
../test_crm_vendors.py)."""

from __future__ import annotations

import httpx
import pytest

from inkbridge.config import DestinationSettings
from inkbridge.connectors.hubspot.auth import HubSpotOAuth
from inkbridge.connectors.hubspot.settings import from_settings
from inkbridge_emulators.hubspot import HubSpotEmulator

from ..payloads import envelope_change, lead_change
from .support import BASE


async def test_an_access_token_is_refreshed_before_it_ends(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    now = [0.0]
    auth = HubSpotOAuth(
        token_url=BASE + "/oauth/v1/token",
        client_id="emulator-client",
        client_secret="emulator-secret",
        refresh_token="emulator-refresh",
        client=client,
        clock=lambda: now[0],
    )
    first = await auth.token()
    now[0] = 1499.0  # 30-minute token, refreshed five minutes early
    assert await auth.token() == first
    now[0] = 1501.0

    assert await auth.token() != first
    assert auth.exchanges == 2


async def test_from_settings_reads_credentials_and_options(
    client: httpx.AsyncClient, hub: HubSpotEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HS_TOKEN", "pat-emulator")
    dest = DestinationSettings(
        kind="hubspot",
        url=BASE,
        credentials={"token": "env:HS_TOKEN"},
        options={"envelope_object": "p_envelopes", "owners": {"owner-7": "101"}},
        fields={"envelope_status": "inkbridge_state", "contact.company": ""},
        batch_size=500,
    )

    hubspot = from_settings("crm", dest, client)
    result = await hubspot.apply([envelope_change(1, "sent")])

    assert hubspot.max_batch == 100
    assert result.results[0].ok
    (record,) = hub.crm.records("p_envelopes")
    assert record["inkbridge_state"] == "sent"
    (contact,) = hub.crm.records("contacts")
    assert "company" not in contact


async def test_from_settings_builds_oauth_from_a_refresh_token(
    client: httpx.AsyncClient, hub: HubSpotEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HS_SECRET", "emulator-secret")
    monkeypatch.setenv("HS_REFRESH", "emulator-refresh")
    dest = DestinationSettings(
        kind="hubspot",
        url=BASE,
        credentials={"client_secret": "env:HS_SECRET", "refresh_token": "env:HS_REFRESH"},
        options={"client_id": "emulator-client", "owners": {"owner-7": "101"}},
    )

    result = await from_settings("crm", dest, client).apply([lead_change(1)])

    assert result.results[0].ok
    assert hub.token_exchanges == 1
