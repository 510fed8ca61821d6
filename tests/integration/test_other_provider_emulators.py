"""The Acrobat Sign, PandaDoc, Documenso and DocuSeal emulators over real HTTP: each runs under
uvicorn on a free 127.0.0.1 port, is driven by its real client, and delivers its webhooks to a
receiver (also under uvicorn) that verifies, dedups and parses them with the real inbound
adapters and answers each vendor's acknowledgement (Acrobat's client-id echo included)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.errors import SignatureInvalid
from inkbridge.providers.acrobat_sign.adapter import AcrobatSignAdapter
from inkbridge.providers.acrobat_sign.client import AcrobatSignClient
from inkbridge.providers.base import EnvelopeSpec, ProviderClient, Signer
from inkbridge.providers.documenso.adapter import DocumensoAdapter
from inkbridge.providers.documenso.client import DocumensoClient
from inkbridge.providers.docuseal.adapter import DocuSealAdapter
from inkbridge.providers.docuseal.client import DocuSealClient
from inkbridge.providers.pandadoc.adapter import PandaDocAdapter
from inkbridge.providers.pandadoc.client import PandaDocClient
from inkbridge_emulators.acrobat_sign import create_acrobat_sign_emulator
from inkbridge_emulators.documenso import create_documenso_emulator
from inkbridge_emulators.docuseal import create_docuseal_emulator
from inkbridge_emulators.faults import Chaos
from inkbridge_emulators.pandadoc import create_pandadoc_emulator
from tests.support.provider_worlds import acrobat_bearer, acrobat_webhook, inbound_of
from tests.support.served import serve

CLIENT_ID, CLIENT_SECRET, REFRESH = "acrobat-client", "acrobat-secret", "acrobat-refresh"
PANDADOC_KEY, PANDADOC_SHARED = "pd-api-key", "pd-shared-key"
DOCUMENSO_TOKEN, DOCUMENSO_SECRET = "api_documenso", "documenso-secret"
DOCUSEAL_TOKEN, DOCUSEAL_SECRET = "docuseal-token", "whsec_docusealsecret"
ADA = Signer(email="ada@example.test", name="Ada Lovelace")
SPEC = EnvelopeSpec(
    envelope_id="env_http",
    template_id="1000001",
    title="Mutual NDA",
    signers=(ADA,),
    metadata={"inkbridge_lead_id": "lead_http"},
)

ADAPTERS: dict[str, Any] = {
    "acrobat_sign": AcrobatSignAdapter([SecretStr(CLIENT_ID)]),
    "pandadoc": PandaDocAdapter([SecretStr(PANDADOC_SHARED)]),
    "documenso": DocumensoAdapter([SecretStr(DOCUMENSO_SECRET)]),
    "docuseal": DocuSealAdapter([SecretStr(DOCUSEAL_SECRET)]),
}


@dataclass
class Delivery:
    key: str
    body: dict[str, Any] | list[Any]
    events: list[NormalizedEvent]


@dataclass
class Receiver:
    """inkbridge's intake reduced to verify + dedup + parse + the vendor's ack, per vendor."""

    deliveries: dict[str, list[Delivery]] = field(default_factory=dict)
    attempts: dict[str, list[Delivery]] = field(default_factory=dict)  # refused ones too
    refused: int = 0
    # (vendor, event name) -> attempts left to fail with a 503, to force retries.
    fail: dict[tuple[str, str], int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/hooks/{vendor}", self.receive, methods=["GET", "POST"]),
                # 2xx without the echo Acrobat requires.
                Route("/plain", lambda _: Response("ok"), methods=["GET", "POST"]),
            ]
        )

    async def receive(self, request: Request) -> Response:
        vendor = request.path_params["vendor"]
        adapter = ADAPTERS[vendor]
        inbound = await inbound_of(request, vendor)
        try:
            if request.method == "GET":
                ack = adapter.verify_registration(inbound)
                return Response(ack.body, ack.status, dict(ack.headers), ack.media_type)
            adapter.verify(inbound)
        except SignatureInvalid:
            with self.lock:
                self.refused += 1
            return Response(status_code=401)
        body = json.loads(inbound.body)
        name = body.get("event") or body.get("event_type") if isinstance(body, dict) else None
        delivery = Delivery(adapter.dedup_key(inbound), body, adapter.parse(inbound))
        with self.lock:
            self.attempts.setdefault(vendor, []).append(delivery)
            if self.fail.get((vendor, str(name)), 0) > 0:
                self.fail[(vendor, str(name))] -= 1
                return Response(status_code=503)
            self.deliveries.setdefault(vendor, []).append(delivery)
        ack = adapter.acknowledge(inbound)
        return Response(ack.body, ack.status, dict(ack.headers), ack.media_type)

    def of(self, vendor: str) -> list[Delivery]:
        with self.lock:
            return list(self.deliveries.get(vendor, []))

    def tried(self, vendor: str, event: str) -> list[Delivery]:
        with self.lock:
            found = list(self.attempts.get(vendor, []))
        return [d for d in found if isinstance(d.body, dict) and d.body.get("event") == event]


async def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for webhooks"
        await asyncio.sleep(0.02)


# Each emulator with the credentials above, waiting for its webhook URL and chaos.
EMULATORS: dict[str, Callable[..., Any]] = {
    "acrobat_sign": partial(
        create_acrobat_sign_emulator,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        refresh_token=REFRESH,
    ),
    "pandadoc": partial(create_pandadoc_emulator, api_key=PANDADOC_KEY, shared_key=PANDADOC_SHARED),
    "documenso": partial(
        create_documenso_emulator, api_token=DOCUMENSO_TOKEN, webhook_secret=DOCUMENSO_SECRET
    ),
    "docuseal": partial(
        create_docuseal_emulator, api_token=DOCUSEAL_TOKEN, webhook_secret=DOCUSEAL_SECRET
    ),
}


def emulator_app(vendor: str, hooks: str, chaos: Chaos | None) -> Any:
    return EMULATORS[vendor](webhook_url=f"{hooks}/hooks/{vendor}", chaos=chaos)


def client_for(vendor: str, base: str, http: httpx.AsyncClient) -> ProviderClient:
    if vendor == "acrobat_sign":
        return AcrobatSignClient(base, CLIENT_ID, CLIENT_SECRET, REFRESH, http)
    if vendor == "pandadoc":
        return PandaDocClient(f"{base}/public/v1", api_key=PANDADOC_KEY, client=http)
    if vendor == "documenso":
        return DocumensoClient(base, DOCUMENSO_TOKEN, http)
    return DocuSealClient(base, DOCUSEAL_TOKEN, http)


# Notifications one create + one signature cause (PandaDoc: POSTs, each a batch).
NOTIFICATIONS = {"acrobat_sign": 4, "pandadoc": 3, "documenso": 4, "docuseal": 3}


@pytest.mark.parametrize("vendor", sorted(NOTIFICATIONS))
async def test_duplicated_deliveries_verify_and_share_one_dedup_key(vendor: str) -> None:
    receiver = Receiver()
    chaos = Chaos(duplicate_rate=1.0, seed=7)  # every notification is delivered twice
    with serve(receiver.app()) as hooks, serve(emulator_app(vendor, hooks, chaos)) as base:
        async with httpx.AsyncClient(timeout=5) as http:
            client = client_for(vendor, base, http)
            created = await client.create_envelope(SPEC)
            signed = await http.post(
                f"{base}/_emulator/envelopes/{created.provider_envelope_id}/sign"
            )
            assert signed.status_code == 200, signed.text
            expected = 2 * NOTIFICATIONS[vendor]
            await wait_until(lambda: len(receiver.of(vendor)) >= expected)
            await asyncio.sleep(0.2)  # nothing more should arrive
            history = await client.fetch_status(created.provider_envelope_id)

    deliveries = receiver.of(vendor)
    assert receiver.refused == 0
    assert len(deliveries) == expected
    assert set(Counter(d.key for d in deliveries).values()) == {2}
    first_copies = {d.key: d for d in deliveries}.values()
    types = [e.type for d in first_copies for e in d.events]
    assert EventType.RECIPIENT_SIGNED in types
    assert EventType.DOCUMENT_COMPLETED in types
    assert all(
        e.provider_envelope_id == created.provider_envelope_id for d in deliveries for e in d.events
    )
    assert history[-1].type is EventType.DOCUMENT_COMPLETED


async def test_documenso_recomputes_created_at_per_attempt_but_not_the_dedup_key() -> None:
    receiver = Receiver(fail={("documenso", "DOCUMENT_SENT"): 2})
    with serve(receiver.app()) as hooks, serve(emulator_app("documenso", hooks, None)) as base:
        async with httpx.AsyncClient(timeout=5) as http:
            await client_for("documenso", base, http).create_envelope(SPEC)
            await wait_until(lambda: len(receiver.tried("documenso", "DOCUMENT_SENT")) >= 3)

    attempts = receiver.tried("documenso", "DOCUMENT_SENT")  # two refused, then accepted
    assert len(attempts) == 3
    assert len({d.key for d in attempts}) == 1
    assert len({d.body["createdAt"] for d in attempts if isinstance(d.body, dict)}) == 3
    assert [e.type for e in attempts[-1].events] == [EventType.DOCUMENT_SENT]


async def test_documenso_duplicates_differ_in_created_at_yet_dedup_alike() -> None:
    receiver = Receiver()
    chaos = Chaos(duplicate_rate=1.0, max_delay_seconds=0.05, seed=3)
    with serve(receiver.app()) as hooks, serve(emulator_app("documenso", hooks, chaos)) as base:
        async with httpx.AsyncClient(timeout=5) as http:
            await client_for("documenso", base, http).create_envelope(SPEC)
            await wait_until(lambda: len(receiver.of("documenso")) >= 4)

    by_key: dict[str, set[str]] = {}
    for delivery in receiver.of("documenso"):
        assert isinstance(delivery.body, dict)
        by_key.setdefault(delivery.key, set()).add(delivery.body["createdAt"])
    assert len(by_key) == 2  # DOCUMENT_CREATED and DOCUMENT_SENT
    assert all(len(created_at) == 2 for created_at in by_key.values())


async def test_acrobat_registration_and_deliveries_need_the_client_id_echo() -> None:
    receiver = Receiver()
    with serve(receiver.app()) as hooks, serve(emulator_app("acrobat_sign", hooks, None)) as base:
        async with httpx.AsyncClient(timeout=5) as http:
            headers = await acrobat_bearer(http, base, CLIENT_ID, CLIENT_SECRET, REFRESH)
            registered = await http.post(
                f"{base}/api/rest/v6/webhooks",
                headers=headers,
                json=acrobat_webhook(f"{hooks}/hooks/acrobat_sign"),
            )
            # A URL that answers 2xx without echoing is refused at registration.
            refused = await http.post(
                f"{base}/api/rest/v6/webhooks",
                headers=headers,
                json=acrobat_webhook(f"{hooks}/plain"),
            )

    assert registered.status_code == 201
    assert refused.status_code == 400
    assert refused.json()["code"] == "INVALID_WEBHOOK_URL"
