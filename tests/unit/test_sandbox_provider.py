"""The sandbox provider emulator and its client, in process: the provider's API over
httpx.ASGITransport, and its webhooks delivered over ASGITransport to a receiver that verifies
and parses them with the real StandardWebhooksAdapter."""

from __future__ import annotations

import base64
import os
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.domain.lifecycle import EnvelopeState, replay
from inkbridge.domain.signer_session import SIGNER_COOKIE
from inkbridge.errors import PermanentError, RetryableError, SignatureInvalid
from inkbridge.providers.base import (
    EnvelopeSpec,
    InboundRequest,
    Signer,
    SignerAuthentication,
    SigningRequest,
)
from inkbridge.providers.sandbox.client import SandboxProviderClient
from inkbridge.providers.standard_webhooks.adapter import StandardWebhooksAdapter
from inkbridge.sandbox.provider import (
    SandboxProvider,
    build_event,
    create_provider_app,
    signed_delivery,
)
from inkbridge.sandbox.provider_model import cookie_binding
from inkbridge.sandbox.provider_store import EnvelopeBook
from tests.support.provider_worlds import inbound_of

SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()
# The browser of these tests holds the signer cookie inkbridge's /sign/ redemption would set.
COOKIE = "browser-cookie-" + base64.urlsafe_b64encode(os.urandom(12)).decode()
BINDING = cookie_binding(COOKIE)
AUTH = SignerAuthentication("password", datetime.now(UTC), BINDING)


@dataclass
class Delivery:
    msg_id: str
    body: bytes
    event: NormalizedEvent


@dataclass
class Receiver:
    """inkbridge's side of the wire, reduced to verify + parse; can be told to fail first."""

    fail_next: int = 0
    fail_status: int = 503
    accepted: list[Delivery] = field(default_factory=list)
    refused: int = 0

    def __post_init__(self) -> None:
        self.adapter = StandardWebhooksAdapter([SecretStr(SECRET)])
        self.app = Starlette(routes=[Route("/hooks", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        if self.fail_next > 0:
            self.fail_next -= 1
            self.refused += 1
            return Response(status_code=self.fail_status)
        inbound = await inbound_of(request, "sandbox")
        try:
            self.adapter.verify(inbound)
        except SignatureInvalid:
            self.refused += 1
            return Response(status_code=401)
        (event,) = self.adapter.parse(inbound)
        self.accepted.append(Delivery(inbound.headers["webhook-id"], inbound.body, event))
        return JSONResponse({"ok": True})

    def types(self) -> list[str]:
        return [d.event.type.value for d in self.accepted]


@dataclass
class Sandbox:
    app: Starlette
    provider: SandboxProvider
    api: httpx.AsyncClient
    receiver: Receiver

    async def create(self, signers: int = 1, **extra: Any) -> str:
        body = {
            "template_id": "tpl_nda",
            "title": "Mutual NDA",
            "signers": [
                {"email": f"s{i}@example.test", "name": f"Signer {i}", "recipient_id": str(i)}
                for i in range(1, signers + 1)
            ],
            "metadata": {"envelope_id": "env_1", "lead_id": "lead_1"},
            **extra,
        }
        response = await self.api.post("/envelopes", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["envelope_id"])

    async def signing_link(self, envelope_id: str, recipient_id: str, **extra: Any) -> str:
        body = {"recipient_id": recipient_id, "binding": BINDING, **extra}
        response = await self.api.post(f"/envelopes/{envelope_id}/signing-url", json=body)
        assert response.status_code == 200, response.text
        return str(response.json()["url"])

    async def idle(self) -> None:
        assert await self.provider.wait_idle(timeout=10)


def sandbox_app(hooks: httpx.AsyncClient, state_path: Path | None = None) -> Starlette:
    """The sandbox provider delivering its webhooks through ``hooks``, retrying quickly."""
    return create_provider_app(
        state_path=state_path,
        webhook_url="http://receiver/hooks",
        webhook_secret=SECRET,
        public_url="http://sandbox",
        http_client=hooks,
        retry_base_seconds=0.01,
    )


@asynccontextmanager
async def running_sandbox(
    receiver: Receiver, state_path: Path | None = None
) -> AsyncIterator[Sandbox]:
    hooks = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=receiver.app), base_url="http://receiver"
    )
    app = sandbox_app(hooks, state_path)
    provider: SandboxProvider = app.state.sandbox
    await provider.start()
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox")
    api.cookies.set(SIGNER_COOKIE, COOKIE)
    try:
        yield Sandbox(app, provider, api, receiver)
    finally:
        await provider.stop()
        await api.aclose()
        await hooks.aclose()
        provider.close()


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with running_sandbox(Receiver()) as running:
        yield running


async def test_creating_an_envelope_emits_a_signed_document_sent_per_recipient(
    sandbox: Sandbox,
) -> None:
    envelope_id = await sandbox.create(signers=2)
    await sandbox.idle()

    events = [d.event for d in sandbox.receiver.accepted]
    assert [(e.type, e.recipient_id) for e in events] == [
        (EventType.DOCUMENT_SENT, "1"),
        (EventType.DOCUMENT_SENT, "2"),
    ]
    assert all(e.provider_envelope_id == envelope_id for e in events)
    assert events[0].recipient_email == "s1@example.test"
    assert events[0].metadata == {"envelope_id": "env_1", "lead_id": "lead_1"}
    assert sandbox.receiver.refused == 0
    assert envelope_id.startswith("sbx_")


async def test_view_then_sign_by_every_recipient_completes_the_envelope(sandbox: Sandbox) -> None:
    envelope_id = await sandbox.create(signers=2)
    for recipient in ("1", "2"):
        url = await sandbox.signing_link(envelope_id, recipient)
        page = await sandbox.api.get(url)
        assert page.status_code == 200
        assert f"Signer {recipient}" in page.text
        signed = await sandbox.api.post(url + "/sign")
        assert signed.status_code == 200
        assert 'data-outcome="signed"' in signed.text
    await sandbox.idle()

    assert sandbox.receiver.types() == [
        "document_sent",
        "document_sent",
        "document_viewed",
        "recipient_signed",
        "document_viewed",
        "recipient_signed",
        "document_completed",
    ]
    status = (await sandbox.api.get(f"/envelopes/{envelope_id}")).json()
    assert status["status"] == "completed"
    assert [r["status"] for r in status["recipients"]] == ["signed", "signed"]
    assert len(status["events"]) == 7
    assert {e["delivery"] for e in status["events"]} == {"delivered"}


async def test_only_the_first_view_emits_document_viewed(sandbox: Sandbox) -> None:
    envelope_id = await sandbox.create()
    url = await sandbox.signing_link(envelope_id, "1")

    for _ in range(3):
        assert (await sandbox.api.get(url)).status_code == 200
    await sandbox.idle()

    assert sandbox.receiver.types().count("document_viewed") == 1


async def test_a_signing_link_is_single_use(sandbox: Sandbox) -> None:
    envelope_id = await sandbox.create(signers=2)
    url = await sandbox.signing_link(envelope_id, "1")
    await sandbox.api.post(url + "/sign")

    again = await sandbox.api.get(url)
    resign = await sandbox.api.post(url + "/sign")

    assert again.status_code == 410
    assert resign.status_code == 410
    assert "already been used" in again.text
    await sandbox.idle()
    assert sandbox.receiver.types().count("recipient_signed") == 1


async def test_decline_emits_document_declined_and_returns_to_the_caller(
    sandbox: Sandbox,
) -> None:
    envelope_id = await sandbox.create(signers=2)
    url = await sandbox.signing_link(envelope_id, "2", return_url="https://app.example.test/done")

    declined = await sandbox.api.post(url + "/decline")
    await sandbox.idle()

    assert declined.status_code == 303
    assert declined.headers["location"] == (
        f"https://app.example.test/done?event=decline&envelope_id={envelope_id}"
    )
    assert sandbox.receiver.types()[-1] == "document_declined"
    assert sandbox.receiver.accepted[-1].event.recipient_id == "2"
    status = (await sandbox.api.get(f"/envelopes/{envelope_id}")).json()
    assert status["status"] == "declined"
    refused = await sandbox.api.post(
        f"/envelopes/{envelope_id}/signing-url", json={"recipient_id": "1", "binding": BINDING}
    )
    assert refused.status_code == 409


async def test_the_signing_page_is_plain_accessible_html_with_escaped_values(
    sandbox: Sandbox,
) -> None:
    envelope_id = await sandbox.create(title="<script>alert(1)</script> NDA")
    page = await sandbox.api.get(await sandbox.signing_link(envelope_id, "1"))

    assert page.headers["content-type"].startswith("text/html")
    assert '<html lang="en">' in page.text
    assert "<script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; NDA" in page.text
    assert '<button type="submit" class="sign">Sign</button>' in page.text
    assert "Decline</button>" in page.text
    assert "http" not in page.text.split("<body>")[0]  # no external assets in the head
    assert "default-src 'none'" in page.headers["content-security-policy"]


async def test_a_return_url_must_be_http(sandbox: Sandbox) -> None:
    envelope_id = await sandbox.create()

    response = await sandbox.api.post(
        f"/envelopes/{envelope_id}/signing-url",
        json={"recipient_id": "1", "return_url": "javascript:alert(1)", "binding": BINDING},
    )

    assert response.status_code == 400


async def test_a_signing_link_needs_a_browser_binding(sandbox: Sandbox) -> None:
    envelope_id = await sandbox.create()

    response = await sandbox.api.post(
        f"/envelopes/{envelope_id}/signing-url", json={"recipient_id": "1"}
    )

    assert response.status_code == 400
    with pytest.raises(PermanentError):
        await SandboxProviderClient("http://sandbox", sandbox.api).signing_url(
            SigningRequest(envelope_id, Signer("s1@example.test", "Signer 1", "1"))
        )


@pytest.mark.parametrize("cookie", [None, "another-browser"])
async def test_the_signing_page_refuses_a_browser_without_the_bound_cookie(
    sandbox: Sandbox, cookie: str | None
) -> None:
    envelope_id = await sandbox.create()
    url = await sandbox.signing_link(envelope_id, "1")
    sandbox.api.cookies.clear()
    if cookie is not None:
        sandbox.api.cookies.set(SIGNER_COOKIE, cookie)

    page = await sandbox.api.get(url)
    signed = await sandbox.api.post(url + "/sign")
    declined = await sandbox.api.post(url + "/decline")
    await sandbox.idle()

    assert [page.status_code, signed.status_code, declined.status_code] == [403, 403, 403]
    assert "Signer 1" not in page.text
    assert page.headers["cache-control"] == "no-store"
    status = (await sandbox.api.get(f"/envelopes/{envelope_id}")).json()
    assert status["status"] == "sent"
    assert status["recipients"][0]["status"] == "sent"
    assert sandbox.receiver.types() == ["document_sent"]


async def test_a_new_link_revokes_the_recipients_older_ones(sandbox: Sandbox) -> None:
    envelope_id = await sandbox.create(signers=2)
    older = await sandbox.signing_link(envelope_id, "1")
    other_recipient = await sandbox.signing_link(envelope_id, "2")
    newer = await sandbox.signing_link(envelope_id, "1")

    stale = await sandbox.api.get(older)
    stale_sign = await sandbox.api.post(older + "/sign")

    assert stale.status_code == 410
    assert stale_sign.status_code == 410
    assert (await sandbox.api.get(newer)).status_code == 200
    assert (await sandbox.api.get(other_recipient)).status_code == 200


async def test_a_link_expires_unopened_and_a_session_expires_after_opening(
    sandbox: Sandbox,
) -> None:
    envelope_id = await sandbox.create(signers=2)
    unopened = await sandbox.signing_link(envelope_id, "1")
    opened = await sandbox.signing_link(envelope_id, "2")
    assert (await sandbox.api.get(opened)).status_code == 200
    issued = datetime.now(UTC)

    def later(minutes: float) -> None:
        sandbox.provider.book = EnvelopeBook(
            sandbox.provider.db, clock=lambda: issued + timedelta(minutes=minutes)
        )

    later(6)
    assert (await sandbox.api.get(unopened)).status_code == 410
    assert (await sandbox.api.get(opened)).status_code == 200  # within its 30 minutes
    later(45)
    assert (await sandbox.api.post(opened + "/sign")).status_code == 410
    status = (await sandbox.api.get(f"/envelopes/{envelope_id}")).json()
    assert [r["status"] for r in status["recipients"]] == ["sent", "viewed"]


async def test_duplicates_reuse_the_webhook_id_and_body(sandbox: Sandbox) -> None:
    await sandbox.api.post("/_chaos", json={"duplicate_rate": 1.0})
    envelope_id = await sandbox.create(signers=2)
    await sandbox.provider.wait_idle()
    await sandbox.api.post(f"/envelopes/{envelope_id}/remind")
    await sandbox.idle()

    per_id = Counter(d.msg_id for d in sandbox.receiver.accepted)
    assert len(per_id) == 3
    assert set(per_id.values()) == {2}
    bodies: dict[str, set[bytes]] = {}
    for delivery in sandbox.receiver.accepted:
        bodies.setdefault(delivery.msg_id, set()).add(delivery.body)
    assert all(len(b) == 1 for b in bodies.values())
    outbox = (await sandbox.api.get("/_outbox")).json()
    assert outbox["duplicates_sent"] == 3
    assert outbox["delivered"] == 3


async def test_deliveries_are_retried_until_the_receiver_answers_2xx() -> None:
    receiver = Receiver(fail_next=4, fail_status=500)
    async with running_sandbox(receiver) as sandbox:
        envelope_id = await sandbox.create(signers=2)
        await sandbox.idle()
        outbox = (await sandbox.api.get("/_outbox")).json()
        history = (await sandbox.api.get(f"/envelopes/{envelope_id}")).json()["events"]

    assert receiver.refused == 4
    assert sorted(d.msg_id for d in receiver.accepted) == sorted(e["msg_id"] for e in history)
    assert outbox["pending"] == 0
    assert outbox["delivered"] == 2
    assert outbox["attempts_total"] == 6
    assert outbox["failed_attempts"] == 4


async def test_connection_errors_are_retried_too() -> None:
    receiver = Receiver()

    class FlakyTransport(httpx.AsyncBaseTransport):
        """Refuses the first two connections, then reaches the receiver."""

        def __init__(self) -> None:
            self.inner = httpx.ASGITransport(app=receiver.app)
            self.refusals = 2

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if self.refusals:
                self.refusals -= 1
                raise httpx.ConnectError("refused", request=request)
            return await self.inner.handle_async_request(request)

    async with httpx.AsyncClient(transport=FlakyTransport()) as hooks:
        app = sandbox_app(hooks)
        provider: SandboxProvider = app.state.sandbox
        await provider.start()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sandbox"
        ) as api:
            await api.post(
                "/envelopes",
                json={
                    "template_id": "t",
                    "title": "T",
                    "signers": [{"email": "a@x.test", "name": "A"}],
                },
            )
            assert await provider.wait_idle()
        await provider.stop()

    assert receiver.types() == ["document_sent"]


async def test_reorder_sends_a_window_of_events_shuffled(sandbox: Sandbox) -> None:
    await sandbox.api.post("/_chaos", json={"reorder": True, "reorder_window_seconds": 0.1})
    await sandbox.create(signers=5)
    await sandbox.idle()

    recipients = [d.event.recipient_id for d in sandbox.receiver.accepted]
    assert sorted(recipients, key=lambda r: r or "") == ["1", "2", "3", "4", "5"]
    assert recipients != ["1", "2", "3", "4", "5"]


async def test_dropped_events_stay_in_the_history_for_reconciliation(sandbox: Sandbox) -> None:
    await sandbox.api.post("/_chaos", json={"drop_rate": 1.0})
    envelope_id = await sandbox.create()
    await sandbox.idle()

    history = (await sandbox.api.get(f"/envelopes/{envelope_id}")).json()["events"]
    assert sandbox.receiver.accepted == []
    assert [(e["type"], e["delivery"]) for e in history] == [("document_sent", "dropped")]
    assert (await sandbox.api.get("/_outbox")).json()["dropped"] == 1


async def test_chaos_can_be_read_changed_and_validated(sandbox: Sandbox) -> None:
    changed = await sandbox.api.post("/_chaos", json={"max_delay_seconds": 0.05, "seed": 7})
    refused = await sandbox.api.post("/_chaos", json={"duplicate_rate": 2})

    assert changed.json()["max_delay_seconds"] == 0.05
    assert changed.json()["seed"] == 7
    assert refused.status_code == 400
    assert (await sandbox.api.get("/_chaos")).json()["duplicate_rate"] == 0.0


async def test_delayed_events_still_all_arrive(sandbox: Sandbox) -> None:
    await sandbox.api.post("/_chaos", json={"max_delay_seconds": 0.05})
    await sandbox.create(signers=3)
    await sandbox.idle()

    assert sorted(d.event.recipient_id or "" for d in sandbox.receiver.accepted) == ["1", "2", "3"]


@pytest.mark.parametrize(
    ("action", "event_type", "status"),
    [
        ("void", "document_voided", "voided"),
        ("expire", "document_expired", "expired"),
        ("bounce", "document_delivery_failed", "sent"),
        ("remind", "reminder_sent", "sent"),
    ],
)
async def test_admin_actions_emit_their_events(
    sandbox: Sandbox, action: str, event_type: str, status: str
) -> None:
    envelope_id = await sandbox.create()

    response = await sandbox.api.post(f"/envelopes/{envelope_id}/{action}")
    await sandbox.idle()

    assert response.status_code == 200
    assert sandbox.receiver.types()[-1] == event_type
    described = (await sandbox.api.get(f"/envelopes/{envelope_id}")).json()
    assert described["status"] == status
    assert described["delivery_failed"] is (action == "bounce")


async def test_a_finished_envelope_refuses_admin_actions_unless_forced(sandbox: Sandbox) -> None:
    envelope_id = await sandbox.create()
    await sandbox.api.post(await sandbox.signing_link(envelope_id, "1") + "/sign")

    refused = await sandbox.api.post(f"/envelopes/{envelope_id}/void")
    forced = await sandbox.api.post(
        f"/envelopes/{envelope_id}/void",
        json={"force": True, "occurred_at": "2020-01-01T00:00:00Z"},
    )
    await sandbox.idle()

    assert refused.status_code == 409
    assert forced.status_code == 200
    described = (await sandbox.api.get(f"/envelopes/{envelope_id}")).json()
    assert described["status"] == "completed"  # the provider's record stays canonical
    assert described["events"][-1]["type"] == "document_voided"
    assert sandbox.receiver.accepted[-1].event.occurred_at == datetime(2020, 1, 1, tzinfo=UTC)


async def test_unknown_envelopes_and_actions_are_404(sandbox: Sandbox) -> None:
    assert (await sandbox.api.get("/envelopes/sbx_nope")).status_code == 404
    assert (await sandbox.api.post("/envelopes/sbx_nope/void")).status_code == 404
    envelope_id = await sandbox.create()
    assert (await sandbox.api.post(f"/envelopes/{envelope_id}/explode")).status_code == 404
    assert (await sandbox.api.get("/sign/not-a-token")).status_code == 404


async def test_invalid_envelope_bodies_are_refused(sandbox: Sandbox) -> None:
    missing_title = await sandbox.api.post("/envelopes", json={"template_id": "t", "signers": []})
    duplicate_ids = await sandbox.api.post(
        "/envelopes",
        json={
            "template_id": "t",
            "title": "T",
            "signers": [
                {"email": "a@x.test", "name": "A", "recipient_id": "1"},
                {"email": "b@x.test", "name": "B", "recipient_id": "1"},
            ],
        },
    )
    not_json = await sandbox.api.post("/envelopes", content=b"{nope")

    assert missing_title.status_code == 400
    assert missing_title.json()["detail"][0]["loc"] == ["title"]
    assert duplicate_ids.status_code == 400
    assert not_json.status_code == 400


async def test_pending_events_are_delivered_after_a_restart_on_the_same_state_file(
    tmp_path: Path,
) -> None:
    state = tmp_path / "provider.db"
    down = Receiver(fail_next=10_000)
    async with running_sandbox(down, state) as first:
        envelope_id = await first.create(signers=2)
    assert down.accepted == []

    up = Receiver()
    async with running_sandbox(up, state) as second:
        await second.idle()
        described = (await second.api.get(f"/envelopes/{envelope_id}")).json()

    assert [d.event.recipient_id for d in up.accepted] == ["1", "2"]
    assert described["status"] == "sent"


async def test_the_provider_works_mounted_under_a_prefix_when_the_host_starts_it() -> None:
    receiver = Receiver()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=receiver.app), base_url="http://receiver"
    ) as hooks:
        provider_app = create_provider_app(
            state_path=None,
            webhook_url="http://receiver/hooks",
            webhook_secret=SECRET,
            public_url="http://host/sandbox/provider",
            http_client=hooks,
        )

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            await provider_app.state.sandbox.start()
            yield
            await provider_app.state.sandbox.stop()

        host = Starlette(routes=[Mount("/sandbox/provider", provider_app)], lifespan=lifespan)
        async with (
            lifespan(host),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=host), base_url="http://host"
            ) as api,
        ):
            api.cookies.set(SIGNER_COOKIE, COOKIE)
            client = SandboxProviderClient("http://host/sandbox/provider", api)
            created = await client.create_envelope(spec())
            url = await client.signing_url(
                SigningRequest(created.provider_envelope_id, spec().signers[0], authentication=AUTH)
            )
            assert url.startswith("http://host/sandbox/provider/sign/")
            assert (await api.post(url + "/sign")).status_code == 200
            assert await provider_app.state.sandbox.wait_idle()

    assert receiver.types()[-1] == "document_completed"


# -- the client --------------------------------------------------------------------------------


def spec(envelope_id: str = "env_9") -> EnvelopeSpec:
    return EnvelopeSpec(
        envelope_id=envelope_id,
        template_id="tpl_nda",
        title="Mutual NDA",
        signers=(Signer(email="ada@example.test", name="Ada", recipient_id="1"),),
        metadata={"lead_id": "lead_9", "correlation_id": "corr-9"},
        merge_fields={"company": "Example Ltd"},
    )


async def test_the_client_creates_signs_and_reads_back_a_replayable_history(
    sandbox: Sandbox,
) -> None:
    client = SandboxProviderClient("http://sandbox", sandbox.api)

    created = await client.create_envelope(spec())
    url = await client.signing_url(
        SigningRequest(created.provider_envelope_id, spec().signers[0], authentication=AUTH)
    )
    await sandbox.api.get(url)
    await sandbox.api.post(url + "/sign")
    history = await client.fetch_status(created.provider_envelope_id)

    assert created.status == "sent"
    assert [e.type for e in history] == [
        EventType.DOCUMENT_SENT,
        EventType.DOCUMENT_VIEWED,
        EventType.RECIPIENT_SIGNED,
        EventType.DOCUMENT_COMPLETED,
    ]
    assert history[0].metadata == {
        "envelope_id": "env_9",
        "lead_id": "lead_9",
        "correlation_id": "corr-9",
    }
    assert all(e.occurred_at.tzinfo is not None for e in history)
    assert replay("env_9", history).state is EnvelopeState.COMPLETED


async def test_creating_twice_with_the_same_envelope_id_creates_one_envelope(
    sandbox: Sandbox,
) -> None:
    client = SandboxProviderClient("http://sandbox", sandbox.api)

    first = await client.create_envelope(spec("env_same"))
    second = await client.create_envelope(spec("env_same"))
    await sandbox.idle()

    assert first.provider_envelope_id == second.provider_envelope_id
    assert sandbox.receiver.types() == ["document_sent"]


async def test_the_client_maps_vendor_failures_to_our_errors(sandbox: Sandbox) -> None:
    client = SandboxProviderClient("http://sandbox", sandbox.api)
    with pytest.raises(PermanentError):
        await client.fetch_status("sbx_missing")

    answers = iter([httpx.Response(503), httpx.Response(429, headers={"Retry-After": "4"})])

    def flaky(request: httpx.Request) -> httpx.Response:
        return next(answers)

    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(flaky)) as http:
        failing = SandboxProviderClient("http://sandbox", http)
        with pytest.raises(RetryableError):
            await failing.create_envelope(spec())
        with pytest.raises(RetryableError) as limited:
            await failing.fetch_status("sbx_1")
    assert limited.value.retry_after == 4.0
    async with httpx.AsyncClient(transport=httpx.MockTransport(unreachable)) as http:
        with pytest.raises(RetryableError):
            await SandboxProviderClient("http://sandbox", http).fetch_status("sbx_1")


# -- crafted deliveries ------------------------------------------------------------------------


def test_build_event_and_signed_delivery_make_what_the_adapter_accepts() -> None:
    occurred = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    event = build_event(
        EventType.RECIPIENT_SIGNED,
        envelope_id="sbx_1",
        occurred_at=occurred,
        metadata={"envelope_id": "env_1"},
        recipient_id="2",
        recipient_email="b@example.test",
    )
    headers, body = signed_delivery(SECRET, event, msg_id="msg_fixed")
    inbound = InboundRequest(
        connection="sandbox",
        method="POST",
        headers=headers,
        query={},
        body=body,
        received_at=datetime.now(UTC),
    )
    adapter = StandardWebhooksAdapter([SecretStr(SECRET)])

    adapter.verify(inbound)

    assert adapter.dedup_key(inbound) == "msg_fixed"
    (parsed,) = adapter.parse(inbound)
    assert parsed.type is EventType.RECIPIENT_SIGNED
    assert parsed.occurred_at == occurred
    assert parsed.recipient_id == "2"
    assert parsed.metadata == {"envelope_id": "env_1"}


def test_a_delivery_signed_with_another_secret_is_refused() -> None:
    event = build_event("document_sent", envelope_id="sbx_1", occurred_at=datetime.now(UTC))
    other = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    headers, body = signed_delivery(other, event)
    inbound = InboundRequest("sandbox", "POST", headers, {}, body, datetime.now(UTC))

    with pytest.raises(SignatureInvalid):
        StandardWebhooksAdapter([SecretStr(SECRET)]).verify(inbound)
