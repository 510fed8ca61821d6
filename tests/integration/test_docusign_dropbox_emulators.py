"""The DocuSign and Dropbox Sign emulators over real HTTP: each served by uvicorn on a free
127.0.0.1 port, driven by the real clients, delivering webhooks (with chaos duplicates and a
refused first delivery) to a receiver served by uvicorn too, which verifies them with the real
inbound adapters and answers each vendor's acknowledgement."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.errors import SignatureInvalid
from inkbridge.providers.base import (
    EnvelopeSpec,
    ProviderClient,
    Signer,
    SigningRequest,
    WebhookAdapter,
)
from inkbridge.providers.docusign.adapter import DocuSignConnectAdapter
from inkbridge.providers.docusign.client import DocuSignClient
from inkbridge.providers.dropbox_sign.adapter import DropboxSignAdapter
from inkbridge.providers.dropbox_sign.client import DropboxSignClient
from inkbridge_emulators.docusign import create_docusign_emulator
from inkbridge_emulators.dropbox_sign import create_dropbox_sign_emulator
from inkbridge_emulators.faults import Chaos
from tests.support.keys import rsa_pem
from tests.support.provider_worlds import inbound_of
from tests.support.served import serve

VENDOR = Path(__file__).resolve().parents[2].parent / "shared" / "vendor"
DOCUSIGN_SCHEMAS = VENDOR / "docusign"
DROPBOX_OPENAPI = VENDOR / "dropbox-sign" / "openapi.yaml"
CONNECT_KEYS = ["connect-key-old", "connect-key-new"]
DROPBOX_API_KEY = "dropbox-api-key"
# What a whole signing reports, through webhooks and through the status API alike.
SIGNING_EVENTS = {
    EventType.DOCUMENT_SENT,
    EventType.DOCUMENT_VIEWED,
    EventType.RECIPIENT_SIGNED,
    EventType.DOCUMENT_COMPLETED,
}
ADA = Signer(email="ada@example.test", name="Ada Lovelace", recipient_id="1")


async def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for webhooks"
        await asyncio.sleep(0.02)


@dataclass
class Receiver:
    """inkbridge's intake reduced to verify + dedup + parse, behind real HTTP. The first
    delivery is refused (503) so that a redelivery is seen."""

    adapter: WebhookAdapter
    refuse_first: bool = True
    accepted: list[tuple[str, bytes]] = field(default_factory=list)  # (dedup key, body)
    refused: list[str] = field(default_factory=list)
    rejected_signatures: int = 0
    events: list[NormalizedEvent] = field(default_factory=list)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hooks", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        inbound = await inbound_of(request, self.adapter.provider)
        try:
            self.adapter.verify(inbound)
        except SignatureInvalid:
            self.rejected_signatures += 1
            return Response(status_code=401)
        key = self.adapter.dedup_key(inbound)
        if self.refuse_first:
            self.refuse_first = False
            self.refused.append(key)
            return Response(status_code=503)
        self.accepted.append((key, inbound.body))
        self.events.extend(self.adapter.parse(inbound))
        ack = self.adapter.acknowledge(inbound)
        return Response(ack.body, status_code=ack.status, media_type=ack.media_type)

    def assert_each_message_came_twice(self, messages: int, history: list[NormalizedEvent]) -> None:
        """Every delivery verified; each of the emulator's ``messages`` arrived twice (its chaos
        duplicates all) under one dedup key, the refused first delivery among them; and the
        events parsed are a whole signing's, as the provider's status history reports them."""
        assert self.rejected_signatures == 0
        copies = self.copies_per_key()
        assert len(copies) == messages
        assert set(copies.values()) == {2}
        assert self.refused[0] in copies
        assert {e.type for e in self.events} == {e.type for e in history} == SIGNING_EVENTS

    def copies_per_key(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for key, _ in self.accepted:
            counts[key] = counts.get(key, 0) + 1
        return counts


def spec() -> EnvelopeSpec:
    return EnvelopeSpec(
        envelope_id="env_http",
        template_id="tpl_nda",
        title="Mutual NDA",
        signers=(ADA,),
        metadata={
            "inkbridge_envelope_id": "env_http",
            "inkbridge_lead_id": "lead_http",
            "inkbridge_correlation_id": "cor_http",
        },
    )


async def _sign_at(
    client: ProviderClient, http: httpx.AsyncClient, emulator: Any, return_url: str | None = None
) -> tuple[httpx.Response, httpx.Response, list[NormalizedEvent]]:
    """Create ``spec()`` at the emulator through ``client``, open Ada's signing URL and sign;
    once the emulator has delivered every message twice (its chaos duplicates each), the
    provider's status history: (signing page, signing answer, history)."""
    created = await client.create_envelope(spec())
    url = await client.signing_url(SigningRequest(created.provider_envelope_id, ADA, return_url))
    page = await http.get(url)
    signed = await http.post(url + "/sign")
    await wait_for(lambda: emulator.emitter.counters.delivered == 2 * len(emulator.messages))
    return page, signed, list(await client.fetch_status(created.provider_envelope_id))


async def test_docusign_emulator_signs_end_to_end_with_chaos_duplicates_over_real_http() -> None:
    private_pem, public_pem = rsa_pem()
    receiver = Receiver(DocuSignConnectAdapter([SecretStr(k) for k in CONNECT_KEYS]))
    with serve(receiver.app()) as hooks_base:
        app = create_docusign_emulator(
            connect_url=f"{hooks_base}/hooks",
            connect_keys=CONNECT_KEYS,
            schema_dir=DOCUSIGN_SCHEMAS if DOCUSIGN_SCHEMAS.is_dir() else None,
            chaos=Chaos(duplicate_rate=1.0, seed=7),
            public_key_pem=public_pem,
            integration_key="ik-http",
            user_id="user-http",
        )
        emulator = app.state.emulator
        with serve(app) as base:
            async with httpx.AsyncClient(timeout=5) as http:
                client = DocuSignClient(
                    f"{base}/restapi", "acc-1", "ik-http", "user-http", private_pem, base, http
                )
                page, signed, history = await _sign_at(
                    client, http, emulator, "https://app.example.test/done"
                )

    assert page.status_code == 200
    assert signed.status_code == 303
    assert len(emulator.messages) == 6
    receiver.assert_each_message_came_twice(len(emulator.messages), history)
    # The refused first delivery came back with the same key and a higher retryCount.
    assert any(
        b'"retryCount":1' in body for key, body in receiver.accepted if key == receiver.refused[0]
    )
    assert all(e.metadata["inkbridge_envelope_id"] == "env_http" for e in receiver.events)


async def test_dropbox_sign_emulator_signs_end_to_end_with_chaos_duplicates_over_real_http() -> (
    None
):
    receiver = Receiver(DropboxSignAdapter([SecretStr(DROPBOX_API_KEY)]))
    with serve(receiver.app()) as hooks_base:
        app = create_dropbox_sign_emulator(
            callback_url=f"{hooks_base}/hooks",
            api_key=DROPBOX_API_KEY,
            schema_path=DROPBOX_OPENAPI if DROPBOX_OPENAPI.is_file() else None,
            chaos=Chaos(duplicate_rate=1.0, seed=11),
            client_id="app-http",
        )
        emulator = app.state.emulator
        with serve(app) as base:
            async with httpx.AsyncClient(timeout=5) as http:
                client = DropboxSignClient(
                    f"{base}/v3", api_key=DROPBOX_API_KEY, client=http, client_id="app-http"
                )
                page, signed, history = await _sign_at(client, http, emulator)

    assert page.status_code == 200 and signed.status_code == 200
    assert len(emulator.messages) == 5  # sent, viewed, signed, all_signed, downloadable
    receiver.assert_each_message_came_twice(len(emulator.messages), history)
    assert all(e.metadata["inkbridge_lead_id"] == "lead_http" for e in receiver.events)
