"""The sandbox emulators over real HTTP: uvicorn servers on free 127.0.0.1 ports (in threads,
and the CRM once as its own process killed with SIGKILL), driven by the real connectors and the
real provider client."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inkbridge.connectors.base import Change
from inkbridge.connectors.sandbox_crm.connector import SandboxCrmConnector
from inkbridge.connectors.webhook.connector import OutboundWebhookConnector
from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.domain.signer_session import SIGNER_COOKIE
from inkbridge.errors import RetryableError
from inkbridge.providers.base import EnvelopeSpec, Signer, SignerAuthentication, SigningRequest
from inkbridge.providers.sandbox.client import SandboxProviderClient
from inkbridge.providers.standard_webhooks.adapter import StandardWebhooksAdapter
from inkbridge.sandbox.crm import create_crm_app
from inkbridge.sandbox.provider import create_provider_app
from inkbridge.sandbox.provider_model import cookie_binding
from tests.support.ports import bound_socket
from tests.support.processes import free_port
from tests.support.provider_worlds import inbound_of
from tests.support.served import serve

SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()
COOKIE = "browser-cookie"
BINDING = cookie_binding(COOKIE)


def change(outbox_id: int, record_key: str, state: str = "completed") -> Change:
    return Change(
        outbox_id=outbox_id,
        record_key=record_key,
        kind="envelope.state_changed",
        idempotency_key=f"{record_key}:state:{state}",
        payload={
            "envelope": {"id": record_key, "state": state, "milestones": {}},
            "lead": {"id": "lead_1", "email": "ada@example.test", "first_touch": None},
            "correlation_id": "corr-1",
        },
        correlation_id="corr-1",
    )


async def test_the_crm_connector_over_real_http_with_timeouts_and_rate_limits() -> None:
    with serve(create_crm_app(None)) as base:
        async with httpx.AsyncClient(timeout=0.5) as http:
            connector = SandboxCrmConnector("crm", base, http)

            result = await connector.apply([change(1, "envelope:env_1")])
            assert result.results[0].ok

            await http.post(f"{base}/_faults", json={"mode": "timeout", "count": 1})
            with pytest.raises(RetryableError):
                await connector.apply([change(2, "envelope:env_2")])

            await http.post(
                f"{base}/_faults", json={"mode": "rate_limit", "count": 1, "retry_after": 2}
            )
            with pytest.raises(RetryableError) as limited:
                await connector.apply([change(2, "envelope:env_2")])
            assert limited.value.retry_after == 2.0

            result = await connector.apply([change(2, "envelope:env_2")])
            assert result.results[0].ok

            records = (await http.get(f"{base}/records")).json()
            stats = (await http.get(f"{base}/_stats")).json()

    assert sorted(r["id"] for r in records["results"]) == ["envelope:env_1", "envelope:env_2"]
    assert stats["requests_total"] == 4
    assert stats["faulted_total"] == 2


@contextmanager
def crm_process(db: Path, port: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "inkbridge.sandbox.crm", "--port", str(port), "--db", str(db)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/_stats", timeout=0.5)
                break
            except httpx.HTTPError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
                assert time.monotonic() < deadline, "the CRM process did not start"
                time.sleep(0.05)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.mark.slow
async def test_acknowledged_writes_survive_kill_9_of_the_crm_process(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(timeout=5) as http:
        connector = SandboxCrmConnector("crm", base, http, max_batch=50)
        with crm_process(db, port) as proc:
            changes = [change(i, f"envelope:env_{i}") for i in range(120)]
            result = await connector.apply(changes)
            assert all(r.ok for r in result.results)
            proc.kill()  # SIGKILL: no shutdown hook runs
            proc.wait(timeout=10)

        with crm_process(db, port):
            records = (await http.get(f"{base}/records")).json()
            writes = (await http.get(f"{base}/writes")).json()

    assert records["total"] == 120
    assert writes["total"] == 120


class HookReceiver:
    """inkbridge's webhook intake reduced to verify + parse, served by uvicorn."""

    def __init__(self) -> None:
        self.adapter = StandardWebhooksAdapter([SecretStr(SECRET)])
        self.events: list[NormalizedEvent] = []
        self.done = threading.Event()
        self.app = Starlette(routes=[Route("/hooks", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        inbound = await inbound_of(request, "sandbox")
        self.adapter.verify(inbound)
        self.events.extend(self.adapter.parse(inbound))
        if any(e.type is EventType.DOCUMENT_COMPLETED for e in self.events):
            self.done.set()
        return JSONResponse({"ok": True})


async def test_the_sandbox_provider_signs_end_to_end_over_real_http(tmp_path: Path) -> None:
    receiver = HookReceiver()
    provider_sock = bound_socket()
    with serve(receiver.app) as hooks_base:
        provider_app = create_provider_app(
            state_path=tmp_path / "provider.db",
            webhook_url=f"{hooks_base}/hooks",
            webhook_secret=SECRET,
            public_url=f"http://127.0.0.1:{provider_sock.getsockname()[1]}",
        )
        # uvicorn runs the app's lifespan, which starts the emitter.
        with serve(provider_app, provider_sock) as provider_base:
            async with httpx.AsyncClient(timeout=5) as http:
                client = SandboxProviderClient(provider_base, http)
                signer = Signer(email="ada@example.test", name="Ada Lovelace", recipient_id="1")
                created = await client.create_envelope(
                    EnvelopeSpec(
                        envelope_id="env_http",
                        template_id="tpl_nda",
                        title="Mutual NDA",
                        signers=(signer,),
                        metadata={"correlation_id": "corr-http"},
                    )
                )
                # The browser inkbridge's /sign/ redemption bound with its signer cookie.
                authentication = SignerAuthentication("otp", datetime.now(UTC), BINDING)
                url = await client.signing_url(
                    SigningRequest(
                        created.provider_envelope_id, signer, authentication=authentication
                    )
                )
                browser = {"cookie": f"{SIGNER_COOKIE}={COOKIE}"}
                page = await http.get(url, headers=browser)
                signed = await http.post(url + "/sign", headers=browser)
                assert receiver.done.wait(timeout=10)
                history = await client.fetch_status(created.provider_envelope_id)

    assert page.status_code == 200
    assert "Ada Lovelace" in page.text
    assert signed.status_code == 200
    assert [e.type for e in receiver.events] == [e.type for e in history]
    assert [e.type for e in history] == [
        EventType.DOCUMENT_SENT,
        EventType.DOCUMENT_VIEWED,
        EventType.RECIPIENT_SIGNED,
        EventType.DOCUMENT_COMPLETED,
    ]
    assert receiver.events[0].metadata["envelope_id"] == "env_http"


async def test_outbound_webhooks_verify_with_the_standardwebhooks_library_over_real_http() -> None:
    received: list[dict[str, Any]] = []

    async def receive(request: Request) -> Response:
        received.append(Webhook(SECRET).verify(await request.body(), dict(request.headers)))
        return Response(status_code=204)

    app = Starlette(routes=[Route("/zap", receive, methods=["POST"])])
    with serve(app) as base:
        async with httpx.AsyncClient(timeout=5) as http:
            connector = OutboundWebhookConnector("zapier", f"{base}/zap", SECRET, http)
            result = await connector.apply([change(1, "envelope:env_1")])

    assert result.results[0].ok
    assert received[0]["data"]["envelope"]["state"] == "completed"
