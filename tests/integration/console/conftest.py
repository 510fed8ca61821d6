"""Console fixtures: a container with data on every page (a lead with consent and a signed
envelope of a campaign, a dead letter, an ignored receipt), the real app over httpx's ASGI
transport, and tokens of several scopes to sign in with."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from inkbridge.api.app import create_app
from inkbridge.bootstrap import Container
from inkbridge.services.delivery import DestinationRuntime, deliver_once
from inkbridge.services.tokens import create_token
from tests.support.builders import event_body, lifecycle_bodies, store_delivery
from tests.support.fakes import RecordingConnector
from tests.support.worker import add_fake_destination, drain_receipts

BASE = "http://console.test"
ORIGIN = {"origin": BASE}
EMAIL = "signer@example.com"
CAMPAIGN = "spring-sale"


@dataclass
class World:
    container: Container
    client: httpx.AsyncClient
    tokens: dict[str, str]
    lead_id: str
    envelope_id: str
    provider_envelope_id: str
    destination: str


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None, "the page has a CSRF field"
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, token: str, **headers: str) -> httpx.Response:
    """Open the sign-in form and post the token as a browser would (same-origin)."""
    form = await client.get("/console/sign-in")
    return await client.post(
        "/console/sign-in",
        data={"csrf": csrf_of(form.text), "token": token},
        headers={**ORIGIN, **headers},
    )


async def page_csrf(client: httpx.AsyncClient) -> str:
    return csrf_of((await client.get("/console")).text)


@pytest.fixture
async def world(container: Container) -> AsyncIterator[World]:
    tokens = {
        scope: create_token(container.databases, f"console-{scope}", [scope]).token
        for scope in ("read", "admin", "leads:write")
    }
    destination = f"crm_{uuid.uuid4().hex[:6]}"
    add_fake_destination(container, destination, RecordingConnector(failures=["permanent"]))
    app = create_app(container)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    auth = {"authorization": f"Bearer {tokens['admin']}"}
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        lead = await client.post(
            "/v1/leads",
            headers=auth,
            json={
                "email": EMAIL,
                "utm_source": "newsletter",
                "utm_medium": "email",
                "utm_campaign": CAMPAIGN,
                "consents": [{"kind": "marketing_email"}],
            },
        )
        assert lead.status_code == 201, lead.text
        lead_id = lead.json()["id"]
        envelope = await client.post(
            "/v1/envelopes", headers=auth, json={"lead_id": lead_id, "template_key": "nda"}
        )
        assert envelope.status_code == 201, envelope.text
        view = envelope.json()
        start = datetime.now(UTC) - timedelta(hours=3)
        db = container.databases.home
        for body in lifecycle_bodies(view["provider_envelope_id"], start):
            store_delivery(db, body)
        store_delivery(db, event_body("envelope_teleported", view["provider_envelope_id"], start))
        drain_receipts(container)
        runtime = DestinationRuntime.for_destination(container.destinations[destination])
        await deliver_once(runtime, db)
        yield World(
            container,
            client,
            tokens,
            lead_id,
            view["id"],
            view["provider_envelope_id"],
            destination,
        )
