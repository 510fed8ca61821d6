"""DocuSealClient against the DocuSeal emulator in process (httpx.ASGITransport), with the
emulator's webhooks delivered to a receiver that verifies, dedups and parses them with the real
DocuSealAdapter; error classification over httpx.MockTransport."""

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
from inkbridge.providers.docuseal.adapter import DocuSealAdapter
from inkbridge.providers.docuseal.client import DocuSealClient
from inkbridge_emulators.docuseal import DocuSealEmulator, create_docuseal_emulator

TOKEN = "emulator-api-token"
SECRET = "whsec_emulatorwebhooksecret"
ADA = Signer(email="ada@example.test", name="Ada Lovelace")
GRACE = Signer(email="grace@example.test", name="Grace Hopper")


def spec(*signers: Signer) -> EnvelopeSpec:
    return EnvelopeSpec(
        envelope_id="env_1",
        template_id="1000001",
        title="Mutual NDA",
        signers=signers or (ADA,),
        metadata={"inkbridge_lead_id": "lead_1", "inkbridge_correlation_id": "cor_1"},
        merge_fields={"Company": "Analytical Engines"},
    )


@dataclass
class Receiver:
    adapter: DocuSealAdapter = field(default_factory=lambda: DocuSealAdapter([SecretStr(SECRET)]))
    fail: dict[str, int] = field(default_factory=dict)  # event -> attempts left to refuse
    events: list[NormalizedEvent] = field(default_factory=list)
    attempts: list[tuple[str, str]] = field(default_factory=list)  # (dedup key, signature)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/hooks", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        inbound = InboundRequest(
            connection="docuseal",
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
        self.attempts.append(
            (self.adapter.dedup_key(inbound), inbound.headers["x-docuseal-signature"])
        )
        event = json.loads(inbound.body)["event_type"]
        if self.fail.get(event, 0) > 0:
            self.fail[event] -= 1
            return Response(status_code=500)
        self.events.extend(self.adapter.parse(inbound))
        ack = self.adapter.acknowledge(inbound)
        return Response(ack.body, ack.status, dict(ack.headers), ack.media_type)


@dataclass
class World:
    emulator: DocuSealEmulator
    api: httpx.AsyncClient
    client: DocuSealClient
    receiver: Receiver

    async def act(self, submission_id: str, action: str, signer: str | None = None) -> None:
        body = {"signer": signer} if signer else {}
        answer = await self.api.post(f"/_emulator/envelopes/{submission_id}/{action}", json=body)
        assert answer.status_code == 200, answer.text
        assert await self.emulator.drain(10)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    receiver = Receiver()
    hooks = httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver.app()))
    app = create_docuseal_emulator(
        webhook_url="http://receiver/hooks", api_token=TOKEN, webhook_secret=SECRET, client=hooks
    )
    emulator: DocuSealEmulator = app.state.emulator
    await emulator.start()
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://docuseal")
    try:
        yield World(emulator, api, DocuSealClient("http://docuseal", TOKEN, api), receiver)
    finally:
        await emulator.stop()
        await api.aclose()
        await hooks.aclose()


async def test_create_carries_the_ids_in_external_id_and_metadata(world: World) -> None:
    created = await world.client.create_envelope(spec(ADA, GRACE))
    assert await world.emulator.drain(10)

    submission = world.emulator.book.get(created.provider_envelope_id)
    details = list(submission.extra["submitters"].values())
    assert [d["external_id"] for d in details] == ["env_1", "env_1"]
    assert details[0]["metadata"] == {
        "inkbridge_envelope_id": "env_1",
        "inkbridge_lead_id": "lead_1",
        "inkbridge_correlation_id": "cor_1",
    }
    assert details[0]["values"] == {"Company": "Analytical Engines"}
    assert submission.extra["send_email"] is False
    assert [e.type for e in world.receiver.events] == [EventType.DOCUMENT_SENT]
    assert world.receiver.events[0].metadata["inkbridge_lead_id"] == "lead_1"


async def test_create_is_idempotent_on_the_envelope_id(world: World) -> None:
    first = await world.client.create_envelope(spec())
    again = await world.client.create_envelope(spec())
    assert again == first
    assert len(world.emulator.book.envelopes) == 1


async def test_signing_url_is_the_submitters_embed_src(world: World) -> None:
    created = await world.client.create_envelope(spec(ADA, GRACE))
    url = await world.client.signing_url(created.provider_envelope_id, GRACE, None)
    grace = world.emulator.book.get(created.provider_envelope_id).signers[1]
    assert url == f"https://docuseal-emulator.test/s/{grace.token}"
    with pytest.raises(PermanentError):
        await world.client.signing_url(created.provider_envelope_id, Signer("x@y.test", "X"), None)


async def test_a_full_signing_reaches_the_receiver_and_the_status_api(world: World) -> None:
    created = await world.client.create_envelope(spec(ADA, GRACE))
    submission_id = created.provider_envelope_id
    await world.act(submission_id, "view", ADA.email)
    await world.act(submission_id, "sign", ADA.email)
    await world.act(submission_id, "sign", GRACE.email)

    assert [e.type for e in world.receiver.events] == [
        EventType.DOCUMENT_SENT,
        EventType.DOCUMENT_VIEWED,
        EventType.RECIPIENT_SIGNED,
        EventType.RECIPIENT_SIGNED,
        EventType.DOCUMENT_COMPLETED,
    ]
    signed = [e for e in world.receiver.events if e.type is EventType.RECIPIENT_SIGNED]
    history = await world.client.fetch_status(submission_id)
    assert [e.type for e in history] == [
        EventType.DOCUMENT_SENT,
        EventType.DOCUMENT_VIEWED,
        EventType.RECIPIENT_SIGNED,
        EventType.DOCUMENT_VIEWED,  # Grace opened the form as she signed
        EventType.RECIPIENT_SIGNED,
        EventType.DOCUMENT_COMPLETED,
    ]
    # The status API and the webhooks name recipients alike (the submitter id).
    history_signed = [e for e in history if e.type is EventType.RECIPIENT_SIGNED]
    assert [e.recipient_id for e in history_signed] == [e.recipient_id for e in signed]
    assert history[-1].metadata["inkbridge_envelope_id"] == "env_1"


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


async def test_retries_are_resigned_but_keep_the_timestamp_and_dedup_key(world: World) -> None:
    world.receiver.fail = {"submission.created": 2}
    await world.client.create_envelope(spec())
    assert await world.emulator.drain(10)

    keys = {key for key, _ in world.receiver.attempts}
    assert len(world.receiver.attempts) == 3
    assert len(keys) == 1
    assert len(world.receiver.events) == 1


async def test_a_wrong_token_is_permanent(world: World) -> None:
    with pytest.raises(PermanentError):
        await DocuSealClient("http://docuseal", "wrong", world.api).create_envelope(spec())


def mock(status: int, headers: dict[str, str] | None = None) -> httpx.AsyncClient:
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["x-auth-token"] == "t"
        return httpx.Response(status, headers=headers, json={"error": "nope"})

    return httpx.AsyncClient(transport=httpx.MockTransport(answer))


@pytest.mark.parametrize("status", [429, 500, 502])
async def test_throttling_and_server_errors_are_retryable_with_retry_after(status: int) -> None:
    async with mock(status, {"Retry-After": "5"}) as http:
        with pytest.raises(RetryableError) as raised:
            await DocuSealClient("http://d", "t", http).fetch_status("1")
    assert raised.value.retry_after == 5.0


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_other_client_errors_are_permanent(status: int) -> None:
    async with mock(status) as http:
        with pytest.raises(PermanentError):
            await DocuSealClient("http://d", "t", http).fetch_status("1")


async def test_timeouts_are_retryable() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        with pytest.raises(RetryableError):
            await DocuSealClient("http://d", "t", http).fetch_status("1")
