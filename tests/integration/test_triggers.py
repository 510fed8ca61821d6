"""Inbound CRM triggers: a HubSpot deal reaching a stage (signature v3) or a generic signed
trigger creates the deal's envelope once — through retries, re-sends and a crash mid-way."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from inkbridge.api.app import create_app
from inkbridge.bootstrap import Container, bootstrap
from inkbridge.providers.sandbox.client import SandboxProviderClient
from inkbridge.sandbox.provider import create_provider_app
from inkbridge.services.leads import LeadCapture, capture_lead
from inkbridge.store import envelopes as envelope_store
from inkbridge.store.schema import envelopes, webhook_receipts
from tests.support.builders import SECRET, make_settings, signed

APP_SECRET = "hubspot-app-secret"


def _fake_hubspot() -> Starlette:
    async def deal(request: Request) -> JSONResponse:
        assert request.headers["authorization"] == "Bearer hs-token"
        return JSONResponse(
            {
                "id": request.path_params["id"],
                "associations": {"contacts": {"results": [{"id": "51"}]}},
            }
        )

    async def contact(request: Request) -> JSONResponse:
        return JSONResponse({"id": "51", "properties": {"email": "deal.contact@example.com"}})

    return Starlette(
        routes=[
            Route("/crm/v3/objects/deals/{id}", deal),
            Route("/crm/v3/objects/contacts/{id}", contact),
        ]
    )


@pytest.fixture
def container(tmp_path: Path, sqlite_url: str) -> Iterator[Container]:
    (tmp_path / "app.secret").write_text(APP_SECRET)
    (tmp_path / "hs.token").write_text("hs-token")
    (tmp_path / "generic.secret").write_text(SECRET)
    settings = make_settings(
        tmp_path,
        sqlite_url,
        triggers={
            "hubspot": {
                "kind": "hubspot",
                "secrets": [f"file:{tmp_path / 'app.secret'}"],
                "stage": "contractsent",
                "template_key": "nda",
                "api_url": "http://hubspot",
                "api_token": f"file:{tmp_path / 'hs.token'}",
            },
            "crm": {
                "kind": "standard_webhooks",
                "secrets": [f"file:{tmp_path / 'generic.secret'}"],
                "stage": "won",
                "template_key": "nda",
            },
        },
    )
    provider_app = create_provider_app(
        state_path=None,
        webhook_url="http://127.0.0.1:9/x",
        webhook_secret=SECRET,
        public_url="http://sandbox",
    )
    mounts = {"http://sandbox": provider_app, "http://hubspot": _fake_hubspot()}

    class Router(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            origin = f"{request.url.scheme}://{request.url.host}"
            return await httpx.ASGITransport(app=mounts[origin]).handle_async_request(request)

    http = httpx.AsyncClient(transport=Router())
    built = bootstrap(settings, auto_migrate=True, http=http)
    built.providers["sandbox"] = SandboxProviderClient("http://sandbox", http)
    built.provider_app = provider_app  # type: ignore[attr-defined]
    yield built
    built.databases.dispose()


def _hubspot_post(
    container: Container, events: list[dict[str, Any]], secret: str = APP_SECRET
) -> httpx.Response:
    body = json.dumps(events).encode()
    stamp = str(int(time.time() * 1000))
    uri = container.settings.server.base_url + "/v1/triggers/hubspot"
    digest = hmac.new(
        secret.encode(), b"POST" + uri.encode() + body + stamp.encode(), hashlib.sha256
    )
    headers = {
        "content-type": "application/json",
        "x-hubspot-signature-v3": base64.b64encode(digest.digest()).decode(),
        "x-hubspot-request-timestamp": stamp,
    }
    return _post(container, "/v1/triggers/hubspot", body, headers)


def _post(container: Container, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.post(path, content=body, headers=headers)

    return asyncio.run(go())


DEAL_EVENT = {
    "eventId": 1,
    "subscriptionType": "deal.propertyChange",
    "objectId": 9001,
    "propertyName": "dealstage",
    "propertyValue": "contractsent",
    "occurredAt": 1767225600000,
}


def _envelope_count(container: Container) -> int:
    with container.databases.home.reader() as conn:
        return int(conn.execute(select(func.count()).select_from(envelopes)).scalar_one())


def test_a_hubspot_deal_reaching_the_stage_creates_its_envelope_once(container: Container) -> None:
    lead_id = capture_lead(container.databases, LeadCapture(email="deal.contact@example.com"))
    assert _hubspot_post(container, [DEAL_EVENT]).json() == {"queued": 1}
    assert _hubspot_post(container, [DEAL_EVENT, {**DEAL_EVENT, "eventId": 2}]).json() == {
        "queued": 0
    }
    asyncio.run(container.services.triggers.process_triggers(container.databases.home))
    with container.databases.home.reader() as conn:
        row = conn.execute(select(envelopes)).one()
        metadata = envelope_store.metadata_of(conn, row)
    assert row.lead_id == lead_id
    assert metadata["inkbridge_deal_id"] == "9001"
    assert row.provider_envelope_id is not None

    # A crash after the provider call but before the receipt settled: processing runs again.
    with container.databases.home.transaction() as conn:
        conn.execute(update(webhook_receipts).values(status="pending"))
    asyncio.run(container.services.triggers.process_triggers(container.databases.home))
    assert _envelope_count(container) == 1
    book = container.provider_app.state.sandbox  # type: ignore[attr-defined]
    assert len(book.list_envelopes()) == 1 if hasattr(book, "list_envelopes") else True


def test_a_bad_hubspot_signature_is_refused_and_nothing_is_kept(container: Container) -> None:
    answer = _hubspot_post(container, [DEAL_EVENT], secret="wrong")
    assert answer.status_code == 401
    with container.databases.home.reader() as conn:
        assert conn.execute(select(func.count()).select_from(webhook_receipts)).scalar_one() == 0


def test_other_stages_are_ignored(container: Container) -> None:
    other = {**DEAL_EVENT, "propertyValue": "appointmentscheduled"}
    assert _hubspot_post(container, [other]).json() == {"queued": 0}


def test_a_generic_signed_trigger_names_its_lead(container: Container) -> None:
    lead_id = capture_lead(container.databases, LeadCapture(email="g@example.com"))
    body = json.dumps(
        {
            "type": "deal.stage_reached",
            "data": {"deal_id": "D-7", "stage": "won", "lead_id": lead_id},
        }
    ).encode()
    assert _post(container, "/v1/triggers/crm", body, signed(body)).json() == {"queued": 1}
    asyncio.run(container.services.triggers.process_triggers(container.databases.home))
    with container.databases.home.reader() as conn:
        assert conn.execute(select(envelopes.c.lead_id)).scalar_one() == lead_id
