"""The Dynamics 365 connector built from [destinations.NAME] settings (its token cached,
refreshed and refused as every CRM's is: ../test_crm_vendors.py)."""

from __future__ import annotations

import httpx
import pytest

from inkbridge.config import DestinationSettings
from inkbridge.connectors.dynamics.connector import from_settings
from inkbridge_emulators.dynamics import DynamicsEmulator

from ..payloads import envelope_change
from .support import BASE, ENVELOPES, TOKEN_URL, USER_7, only


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
