"""HubSpot erasure against the HubSpot emulator: the contact is GDPR-deleted once, also when
the emulator fails the first calls (its fault injection), and a replay still succeeds."""

from __future__ import annotations

import httpx
import pytest

from inkbridge.config import DestinationSettings
from inkbridge.connectors.base import Change
from inkbridge.connectors.hubspot.settings import from_settings
from inkbridge.errors import RetryableError
from inkbridge_emulators.hubspot import HubSpotEmulator, create_hubspot_app

BASE = "http://hubspot.test"


def _erasure() -> Change:
    payload = {"lead": {"id": "lead_1", "email": "Ada@Example.com"}}
    return Change(1, "lead:lead_1", "lead.erased", "lead:lead_1:erased", payload, None)


async def test_the_contact_is_deleted_once_after_a_retry_storm(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HS_TOKEN", "pat-emulator")
    app = create_hubspot_app(None)
    hub: HubSpotEmulator = app.state.hubspot
    hub.crm.seed("contacts", {"email": "ada@example.com", "firstname": "Ada"})
    hub.crm.seed("contacts", {"email": "bo@example.com"})
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
    await client.post("/_faults", json={"mode": "error500", "count": 3})
    dest = DestinationSettings(kind="hubspot", url=BASE, credentials={"token": "env:HS_TOKEN"})
    hubspot = from_settings("crm", dest, client)

    for _ in range(3):
        with pytest.raises(RetryableError):
            await hubspot.apply([_erasure()])
    done = await hubspot.apply([_erasure()])

    assert done.results[0].ok
    assert [c["email"] for c in hub.crm.records("contacts")] == ["bo@example.com"]
    assert [c["deleted"] for c in hub.gdpr.calls] == [True]

    replay = await hubspot.apply([_erasure()])
    assert replay.results[0].ok
    assert [c["deleted"] for c in hub.gdpr.calls] == [True, False]
