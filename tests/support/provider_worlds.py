"""A provider client against its vendor emulator in process: the emulator's webhooks go to a
receiver running inkbridge's intake reduced to verify + dedup + parse with the real adapter,
and the client talks to the emulator's API over ``httpx.ASGITransport``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.errors import SignatureInvalid
from inkbridge.providers.base import EnvelopeSpec, InboundRequest, Signer

C = TypeVar("C")


async def inbound_of(request: Request, connection: str) -> InboundRequest:
    """A webhook request as inkbridge's intake sees it."""
    return InboundRequest(
        connection=connection,
        method=request.method,
        headers={k.lower(): v for k, v in request.headers.items()},
        query=dict(request.query_params),
        body=await request.body(),
        received_at=datetime.now(UTC),
    )


@dataclass
class AdapterReceiver:
    """Verifies each delivery (a GET is the registration handshake), records it and its dedup
    key, parses it and answers the adapter's acknowledgement.

    ``fail`` scripts refusals: event name (the body's ``event_key``) -> how many deliveries of
    it to answer with ``fail_status`` before accepting one; ``fail_first`` refuses the first N
    deliveries whatever they are (with ``fail_body``: a 200 whose body is not the vendor's
    acknowledgement counts as a failure too). ``strict`` lets a bad signature raise (the test
    fails loudly) instead of answering 401."""

    adapter: Any
    connection: str
    path: str = "/hooks"
    event_key: str = "event"
    fail: dict[str, int] = field(default_factory=dict)
    fail_status: int = 503
    fail_first: int = 0
    fail_body: str = ""
    strict: bool = False
    inbounds: list[InboundRequest] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    events: list[NormalizedEvent] = field(default_factory=list)

    @property
    def bodies(self) -> list[bytes]:
        return [inbound.body for inbound in self.inbounds]

    def app(self) -> Starlette:
        return Starlette(routes=[Route(self.path, self.receive, methods=["GET", "POST"])])

    def refusal(self, inbound: InboundRequest) -> Response | None:
        """The scripted answer to this delivery, if it is to be refused."""
        if self.fail_first > 0:
            self.fail_first -= 1
            return Response(self.fail_body, status_code=self.fail_status)
        event = json.loads(inbound.body).get(self.event_key) if self.fail else None
        if isinstance(event, str) and self.fail.get(event, 0) > 0:
            self.fail[event] -= 1
            return Response(status_code=self.fail_status)
        return None

    async def receive(self, request: Request) -> Response:
        inbound = await inbound_of(request, self.connection)
        try:
            if request.method == "GET":
                ack = self.adapter.verify_registration(inbound)
            else:
                self.adapter.verify(inbound)
                self.inbounds.append(inbound)
                self.keys.append(self.adapter.dedup_key(inbound))
                refused = self.refusal(inbound)
                if refused is not None:
                    return refused
                self.events.extend(self.adapter.parse(inbound))
                ack = self.adapter.acknowledge(inbound)
        except SignatureInvalid:
            if self.strict:
                raise
            return Response(status_code=401)
        return Response(ack.body, ack.status, dict(ack.headers), ack.media_type)


@dataclass
class EmulatorWorld(Generic[C]):
    """A started emulator, an HTTP client of its API, the provider client under test and the
    receiver of its webhooks."""

    emulator: Any
    api: httpx.AsyncClient
    client: C
    receiver: AdapterReceiver

    async def act(self, envelope_id: str, action: str, signer: str | None = None) -> None:
        """Drive the emulator's test-control endpoint, then deliver what it queued."""
        body = {"signer": signer} if signer else {}
        answer = await self.api.post(f"/_emulator/envelopes/{envelope_id}/{action}", json=body)
        assert answer.status_code == 200, answer.text
        assert await self.emulator.drain(10)


@asynccontextmanager
async def emulator_world(
    receiver: AdapterReceiver,
    create_emulator: Callable[..., Starlette],
    make_client: Callable[[httpx.AsyncClient], C],
    base_url: str,
) -> AsyncIterator[EmulatorWorld[C]]:
    """Start the emulator ``create_emulator`` builds with its webhooks going to ``receiver``
    (at ``http://receiver/hooks``), and the client under test talking to it at ``base_url``."""
    hooks = httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver.app()))
    app = create_emulator(webhook_url="http://receiver" + receiver.path, client=hooks)
    emulator = app.state.emulator
    await emulator.start()
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)
    try:
        yield EmulatorWorld(emulator, api, make_client(api), receiver)
    finally:
        await emulator.stop()
        await api.aclose()
        await hooks.aclose()


def world_fixture(
    make_receiver: Callable[[], AdapterReceiver],
    create_emulator: Callable[..., Starlette],
    make_client: Callable[[httpx.AsyncClient], C],
    base_url: str,
) -> Any:
    """A ``world`` fixture: a fresh receiver, emulator and client per test."""

    @pytest.fixture
    async def world() -> AsyncIterator[EmulatorWorld[C]]:
        async with emulator_world(make_receiver(), create_emulator, make_client, base_url) as made:
            yield made

    return world


# The terminal actions an emulator's control endpoint takes, and the event each must produce.
each_terminal_action = pytest.mark.parametrize(
    ("action", "terminal"),
    [
        ("decline", EventType.DOCUMENT_DECLINED),
        ("void", EventType.DOCUMENT_VOIDED),
        ("expire", EventType.DOCUMENT_EXPIRED),
    ],
)


async def assert_terminal_state_reported(
    world: EmulatorWorld[Any], spec: EnvelopeSpec, action: str, terminal: EventType
) -> None:
    """After ``action``, both the status API and the last webhook report ``terminal``."""
    created = await world.client.create_envelope(spec)
    await world.act(created.provider_envelope_id, action)

    history = await world.client.fetch_status(created.provider_envelope_id)
    assert history[-1].type is terminal
    assert world.receiver.events[-1].type is terminal


ADA = Signer(email="ada@example.test", name="Ada Lovelace")
GRACE = Signer(email="grace@example.test", name="Grace Hopper")
# The events of a two-signer envelope viewed and signed by Ada, then signed by Grace.
BOTH_SIGNED = [
    EventType.DOCUMENT_SENT,
    EventType.DOCUMENT_VIEWED,
    EventType.RECIPIENT_SIGNED,
    EventType.RECIPIENT_SIGNED,
    EventType.DOCUMENT_COMPLETED,
]


async def signed_by_both(world: EmulatorWorld[Any], spec: EnvelopeSpec) -> str:
    """Create ``spec`` (Ada and Grace signing) and have Ada view and sign, then Grace sign;
    returns the provider's envelope id."""
    created = await world.client.create_envelope(spec)
    envelope_id = str(created.provider_envelope_id)
    await world.act(envelope_id, "view", ADA.email)
    await world.act(envelope_id, "sign", ADA.email)
    await world.act(envelope_id, "sign", GRACE.email)
    return envelope_id


async def acrobat_bearer(
    http: httpx.AsyncClient, base_url: str, client_id: str, secret: str, refresh: str
) -> dict[str, str]:
    """Headers carrying an Acrobat Sign access token, refreshed at the emulator."""
    grant = {
        "grant_type": "refresh_token",
        "client_id": client_id,
        "client_secret": secret,
        "refresh_token": refresh,
    }
    answer = await http.post(f"{base_url}/oauth/v2/refresh", data=grant)
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def acrobat_webhook(url: str) -> dict[str, object]:
    """An account-wide Acrobat Sign webhook for every agreement event, delivered to ``url``."""
    return {
        "name": "inkbridge",
        "scope": "ACCOUNT",
        "state": "ACTIVE",
        "webhookSubscriptionEvents": ["AGREEMENT_ALL"],
        "webhookUrlInfo": {"url": url},
    }
