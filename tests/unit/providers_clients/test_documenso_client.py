"""DocumensoClient against the Documenso emulator in process (httpx.ASGITransport), with the
emulator's webhooks delivered to a receiver that verifies, dedups and parses them with the real
DocumensoAdapter; error classification over httpx.MockTransport."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.errors import PermanentError, RetryableError, SignatureInvalid
from inkbridge.providers.base import EnvelopeSpec, InboundRequest, Signer
from inkbridge.providers.documenso.adapter import DocumensoAdapter
from inkbridge.providers.documenso.client import DocumensoClient
from inkbridge_emulators.documenso import DocumensoEmulator, create_documenso_emulator

TOKEN = "api_emulatortoken"
SECRET = "emulator-webhook-secret"
ADA = Signer(email="ada@example.test", name="Ada Lovelace")
GRACE = Signer(email="grace@example.test", name="Grace Hopper")


def spec(*signers: Signer) -> EnvelopeSpec:
    return EnvelopeSpec(
        envelope_id="env_1",
        template_id="envelope_template1",
        title="Mutual NDA",
        signers=signers or (ADA,),
        metadata={"inkbridge_lead_id": "lead_1"},
    )


@dataclass
class Receiver:
    adapter: DocumensoAdapter = field(default_factory=lambda: DocumensoAdapter([SecretStr(SECRET)]))
    fail: dict[str, int] = field(default_factory=dict)  # event -> attempts left to refuse
    events: list[NormalizedEvent] = field(default_factory=list)
    attempts: list[tuple[str, str]] = field(default_factory=list)  # (dedup key, createdAt)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hooks", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        inbound = InboundRequest(
            connection="documenso",
            method="POST",
            headers={k.lower(): v for k, v in request.headers.items()},
            query=dict(request.query_params),
            body=await request.body(),
            received_at=datetime.now(UTC),
        )
        try:
            self.adapter.verify(inbound)
        except SignatureInvalid:
            return Response(status_code=401)
        key = self.adapter.dedup_key(inbound)
        body = json.loads(inbound.body)
        self.attempts.append((key, body["createdAt"]))
        if self.fail.get(body["event"], 0) > 0:
            self.fail[body["event"]] -= 1
            return Response(status_code=503)
        self.events.extend(self.adapter.parse(inbound))
        ack = self.adapter.acknowledge(inbound)
        return Response(ack.body, ack.status, dict(ack.headers), ack.media_type)


@dataclass
class World:
    emulator: DocumensoEmulator
    api: httpx.AsyncClient
    client: DocumensoClient
    receiver: Receiver

    async def act(self, envelope_id: str, action: str, signer: str | None = None) -> None:
        body = {"signer": signer} if signer else {}
        answer = await self.api.post(f"/_emulator/envelopes/{envelope_id}/{action}", json=body)
        assert answer.status_code == 200, answer.text
        assert await self.emulator.drain(10)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    receiver = Receiver()
    hooks = httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver.app()))
    app = create_documenso_emulator(
        webhook_url="http://receiver/hooks", api_token=TOKEN, webhook_secret=SECRET, client=hooks
    )
    emulator: DocumensoEmulator = app.state.emulator
    await emulator.start()
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://documenso")
    try:
        yield World(emulator, api, DocumensoClient("http://documenso", TOKEN, api), receiver)
    finally:
        await emulator.stop()
        await api.aclose()
        await hooks.aclose()


async def test_create_fills_the_template_slots_and_distributes(world: World) -> None:
    created = await world.client.create_envelope(spec(ADA, GRACE))
    assert await world.emulator.drain(10)

    envelope = world.emulator.book.get(created.provider_envelope_id)
    assert envelope.external_id == "env_1"
    assert envelope.status == "sent"
    assert envelope.extra["distribution"] == "NONE"
    slots = world.emulator.templates["envelope_template1"]
    assert [int(s.id) for s in envelope.signers] != slots[:2]  # documents get their own ids
    # DOCUMENT_CREATED is stored and ignored by the adapter; DOCUMENT_SENT is the first event.
    assert [e.type for e in world.receiver.events] == [EventType.DOCUMENT_SENT]
    assert world.receiver.events[0].provider_envelope_id == created.provider_envelope_id
    assert world.receiver.events[0].metadata == {"inkbridge_envelope_id": "env_1"}


async def test_a_template_with_too_few_slots_is_permanent(world: World) -> None:
    world.emulator.template_recipients = 1
    with pytest.raises(PermanentError):
        await world.client.create_envelope(spec(ADA, GRACE))


async def test_signing_url_uses_the_recipients_token(world: World) -> None:
    created = await world.client.create_envelope(spec())
    url = await world.client.signing_url(created.provider_envelope_id, ADA, None)
    token = world.emulator.book.get(created.provider_envelope_id).signers[0].token
    assert url == f"http://documenso/sign/{token}"
    with pytest.raises(PermanentError):
        await world.client.signing_url(created.provider_envelope_id, GRACE, None)


async def test_a_full_signing_reaches_the_receiver_and_the_status_api(world: World) -> None:
    created = await world.client.create_envelope(spec(ADA, GRACE))
    envelope_id = created.provider_envelope_id
    await world.act(envelope_id, "view", ADA.email)
    await world.act(envelope_id, "sign", ADA.email)
    await world.act(envelope_id, "sign", GRACE.email)

    assert [e.type for e in world.receiver.events] == [
        EventType.DOCUMENT_SENT,
        EventType.DOCUMENT_VIEWED,
        EventType.RECIPIENT_SIGNED,
        EventType.RECIPIENT_SIGNED,
        EventType.DOCUMENT_COMPLETED,
    ]
    assert [e.recipient_email for e in world.receiver.events[2:4]] == [ADA.email, GRACE.email]
    history = await world.client.fetch_status(envelope_id)
    assert [e.type for e in history] == [
        EventType.DOCUMENT_SENT,
        EventType.RECIPIENT_SIGNED,
        EventType.RECIPIENT_SIGNED,
        EventType.DOCUMENT_COMPLETED,
    ]
    assert history[1].recipient_email == ADA.email


@pytest.mark.parametrize(
    ("action", "terminal"),
    [
        ("decline", EventType.DOCUMENT_DECLINED),
        ("void", EventType.DOCUMENT_VOIDED),
        ("expire", EventType.DOCUMENT_EXPIRED),
    ],
)
async def test_fetch_status_maps_each_terminal_state(
    world: World, action: str, terminal: EventType
) -> None:
    created = await world.client.create_envelope(spec())
    await world.act(created.provider_envelope_id, action)

    history = await world.client.fetch_status(created.provider_envelope_id)
    assert history[-1].type is terminal
    assert world.receiver.events[-1].type is terminal


async def test_created_at_changes_on_retry_but_the_dedup_key_does_not(world: World) -> None:
    world.receiver.fail = {"DOCUMENT_SENT": 2}
    await world.client.create_envelope(spec())
    assert await world.emulator.drain(10)

    sent = [a for a in world.receiver.attempts if '"DOCUMENT_SENT"' in a[0]]
    assert len(sent) == 3
    assert len({key for key, _ in sent}) == 1
    assert len({created_at for _, created_at in sent}) == 3


async def test_a_wrong_token_is_permanent(world: World) -> None:
    with pytest.raises(PermanentError):
        await DocumensoClient("http://documenso", "api_wrong", world.api).create_envelope(spec())


def mock(status: int, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "t"
        return httpx.Response(status, headers=headers, json={"message": "m", "code": "X"})

    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_throttling_and_server_errors_are_retryable_with_retry_after(status: int) -> None:
    async with mock(status, {"Retry-After": "9"}) as http:
        with pytest.raises(RetryableError) as raised:
            await DocumensoClient("http://d", "t", http).fetch_status("envelope_1")
    assert raised.value.retry_after == 9.0


@pytest.mark.parametrize("status", [400, 401, 404])
async def test_other_client_errors_are_permanent(status: int) -> None:
    async with mock(status) as http:
        with pytest.raises(PermanentError):
            await DocumensoClient("http://d", "t", http).fetch_status("envelope_1")


async def test_timeouts_are_retryable() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        with pytest.raises(RetryableError):
            await DocumensoClient("http://d", "t", http).fetch_status("envelope_1")
