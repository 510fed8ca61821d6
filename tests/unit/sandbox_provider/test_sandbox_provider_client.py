"""The sandbox provider's client (create, sign, read back, failures), the provider mounted
under a host's prefix, and crafted deliveries the adapter accepts or refuses."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.routing import Mount

from inkbridge.domain.events import EventType
from inkbridge.domain.lifecycle import EnvelopeState, replay
from inkbridge.domain.signer_session import SIGNER_COOKIE
from inkbridge.errors import PermanentError, RetryableError, SignatureInvalid
from inkbridge.providers.base import EnvelopeSpec, InboundRequest, Signer, SigningRequest
from inkbridge.providers.sandbox.client import SandboxProviderClient
from inkbridge.providers.standard_webhooks.adapter import StandardWebhooksAdapter
from inkbridge.sandbox.provider import build_event, create_provider_app, signed_delivery

from .support import AUTH, COOKIE, SECRET, Receiver, Sandbox


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
