"""The sandbox provider's test rig: a webhook receiver that verifies and parses deliveries
with the real StandardWebhooksAdapter, the provider app over ASGITransport, and the browser
cookie and signer authentication of the tests."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inkbridge.domain.events import NormalizedEvent
from inkbridge.domain.signer_session import SIGNER_COOKIE
from inkbridge.errors import SignatureInvalid
from inkbridge.providers.base import SignerAuthentication
from inkbridge.providers.standard_webhooks.adapter import StandardWebhooksAdapter
from inkbridge.sandbox.provider import SandboxProvider, create_provider_app
from inkbridge.sandbox.provider_model import cookie_binding
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
