"""GET /v1/envelopes/{id}/document on SQLite and PostgreSQL: the signed PDF streamed from the
sandbox provider's API through the envelope's connection, only for the ``documents`` scope (or
admin), only once the envelope is completed, and every access an audit entry. Outbound records
carry a pointer to that route, never the document."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from inkbridge.api.app import create_app
from inkbridge.bootstrap import Container
from inkbridge.domain.events import NormalizedEvent
from inkbridge.domain.signer_session import SIGNER_COOKIE
from inkbridge.errors import PermanentError
from inkbridge.providers.base import (
    CreatedEnvelope,
    EnvelopeSpec,
    Signer,
    SignerAuthentication,
    SigningRequest,
)
from inkbridge.sandbox.signed_pdf import signed_pdf
from inkbridge.services.documents import DOCUMENT_ACCESSED, document_path
from inkbridge.services.tokens import create_token
from inkbridge.store.schema import audit_log
from tests.support.builders import lifecycle_bodies, store_delivery
from tests.support.fakes import RecordingConnector
from tests.support.worker import add_fake_destination, deliver_all, drain_receipts

ADA = {"email": "ada.document@example.test", "first_name": "Ada", "last_name": "Lovelace"}


class Api:
    """The app in-process, with one token per scope this file needs."""

    def __init__(self, container: Container) -> None:
        self.container = container
        dbs = container.databases
        self.tokens: dict[str, tuple[str, str]] = {}
        for scope in ("admin", "read", "documents", "envelopes:write"):
            token_id, token = create_token(dbs, f"doc-{scope}", [scope])
            self.tokens[scope] = (token_id, token)

    def auth(self, scope: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[scope][1]}"}

    async def call(self, method: str, path: str, scope: str, **kwargs: Any) -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(self.container))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.request(method, path, headers=self.auth(scope), **kwargs)


@pytest.fixture
def api(container: Container) -> Api:
    return Api(container)


async def _envelope(api: Api) -> dict[str, Any]:
    lead = await api.call("POST", "/v1/leads", "admin", json=ADA)
    assert lead.status_code == 201, lead.text
    body = {"lead_id": lead.json()["id"], "template_key": "nda"}
    created = await api.call("POST", "/v1/envelopes", "envelopes:write", json=body)
    assert created.status_code == 201, created.text
    view: dict[str, Any] = created.json()
    return view


async def _sign_at_the_provider(container: Container, provider_envelope_id: str) -> None:
    client = container.providers["sandbox"]
    binding = hashlib.sha256(b"browser-cookie").hexdigest()
    url = await client.signing_url(
        SigningRequest(
            provider_envelope_id,
            Signer(ADA["email"], "Ada Lovelace"),
            authentication=SignerAuthentication("password", datetime.now(UTC), binding),
        )
    )
    http = client._client  # type: ignore[attr-defined]  # the in-process sandbox transport
    path = url.removeprefix("http://sandbox")
    browser = {"cookie": f"{SIGNER_COOKIE}=browser-cookie"}
    assert (await http.get(path, headers=browser)).status_code == 200
    assert (await http.post(path + "/sign", headers=browser)).status_code in (200, 303)


def _complete_in_inkbridge(container: Container, provider_envelope_id: str) -> None:
    start = datetime.now(UTC) - timedelta(hours=1)
    for body in lifecycle_bodies(provider_envelope_id, start):
        store_delivery(container.databases.home, body)
    drain_receipts(container)


def _accesses(container: Container, envelope_id: str) -> list[Any]:
    with container.databases.home.reader() as conn:
        return list(
            conn.execute(
                select(audit_log)
                .where(audit_log.c.action == DOCUMENT_ACCESSED)
                .where(audit_log.c.subject_id == envelope_id)
                .order_by(audit_log.c.seq)
            ).all()
        )


async def test_the_documents_scope_streams_the_signed_pdf_and_each_access_is_audited(
    api: Api, container: Container, provider_app: Starlette
) -> None:
    envelope = await _envelope(api)
    provider_id = envelope["provider_envelope_id"]
    await _sign_at_the_provider(container, provider_id)
    _complete_in_inkbridge(container, provider_id)
    title = provider_app.state.sandbox.book.describe(provider_id)["title"]

    answer = await api.call("GET", document_path(envelope["id"]), "documents")

    assert answer.status_code == 200, answer.text
    assert answer.content == signed_pdf(provider_id, title)
    assert provider_id.encode() in answer.content
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"] == f'attachment; filename="{envelope["id"]}.pdf"'
    assert answer.headers["cache-control"] == "no-store"
    [entry] = _accesses(container, envelope["id"])
    assert entry.actor == f"token:{api.tokens['documents'][0]}"
    assert entry.correlation_id == envelope["correlation_id"]
    assert entry.details["outcome"] == "streamed"
    assert entry.details["bytes"] == len(answer.content)


async def test_admin_may_fetch_a_document_and_read_may_not(api: Api, container: Container) -> None:
    envelope = await _envelope(api)
    await _sign_at_the_provider(container, envelope["provider_envelope_id"])
    _complete_in_inkbridge(container, envelope["provider_envelope_id"])

    refused = await api.call("GET", document_path(envelope["id"]), "read")
    admitted = await api.call("GET", document_path(envelope["id"]), "admin")

    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert admitted.status_code == 200
    assert admitted.content.startswith(b"%PDF-")
    [entry] = _accesses(container, envelope["id"])  # the refused call reached no envelope
    assert entry.actor == f"token:{api.tokens['admin'][0]}"


async def test_an_unknown_envelope_is_404_and_an_unfinished_one_409_with_an_audit_entry(
    api: Api, container: Container
) -> None:
    envelope = await _envelope(api)

    unknown = await api.call("GET", document_path("env_nobody"), "documents")
    unfinished = await api.call("GET", document_path(envelope["id"]), "documents")

    assert unknown.status_code == 404
    assert unfinished.status_code == 409
    assert unfinished.headers["content-type"] == "application/problem+json"
    [entry] = _accesses(container, envelope["id"])
    assert entry.details == {"outcome": "not_completed", "bytes": 0, "connection": "sandbox"}


async def test_a_provider_that_refuses_the_download_is_a_502_and_is_audited(
    api: Api, container: Container
) -> None:
    envelope = await _envelope(api)
    # Completed in inkbridge, never signed at the provider: the sandbox refuses with a 409.
    _complete_in_inkbridge(container, envelope["provider_envelope_id"])

    answer = await api.call("GET", document_path(envelope["id"]), "documents")

    assert answer.status_code == 502
    assert answer.headers["content-type"] == "application/problem+json"
    [entry] = _accesses(container, envelope["id"])
    assert entry.details["outcome"] == "provider_failed"
    assert entry.details["reason"] == "sandbox provider answered 409"
    assert entry.details["bytes"] == 0


class _HalfwayProvider:
    """A provider client whose document stream breaks after its first chunk."""

    provider = "sandbox"
    min_poll_interval_seconds = 0.0

    async def create_envelope(self, spec: EnvelopeSpec) -> CreatedEnvelope:
        raise NotImplementedError

    async def signing_url(self, request: SigningRequest) -> str:
        raise NotImplementedError

    async def fetch_status(self, provider_envelope_id: str) -> list[NormalizedEvent]:
        return []

    async def download_document(self, provider_envelope_id: str) -> AsyncIterator[bytes]:
        yield b"%PDF-1.4 first part "
        raise PermanentError("sandbox provider unreachable: ReadError")


async def test_a_stream_broken_or_left_midway_is_audited_with_the_bytes_sent(
    api: Api, container: Container
) -> None:
    envelope = await _envelope(api)
    _complete_in_inkbridge(container, envelope["provider_envelope_id"])
    documents = container.services.documents
    container.providers["sandbox"] = _HalfwayProvider()

    broken = await documents.open_document(envelope["id"], "token:t1")
    received = [await anext(broken.chunks)]
    with pytest.raises(PermanentError):
        received.append(await anext(broken.chunks))
    left = await documents.open_document(envelope["id"], "token:t2")
    await anext(left.chunks)
    await left.chunks.aclose()  # type: ignore[attr-defined]  # the caller went away

    first, second = _accesses(container, envelope["id"])
    assert first.details["outcome"] == "provider_failed"
    assert first.details["bytes"] == len(received[0])
    assert second.actor == "token:t2"
    assert second.details["outcome"] == "interrupted"
    assert second.details["bytes"] == len(b"%PDF-1.4 first part ")


async def test_a_delivered_record_carries_the_document_route_and_never_the_document(
    api: Api, container: Container
) -> None:
    crm = add_fake_destination(container, "crm", RecordingConnector())
    envelope = await _envelope(api)
    await _sign_at_the_provider(container, envelope["provider_envelope_id"])
    _complete_in_inkbridge(container, envelope["provider_envelope_id"])

    await deliver_all(container)

    record = crm.records[f"envelope:{envelope['id']}"]
    assert record["state"] == "completed"
    base = container.settings.server.base_url
    assert record["envelope"]["document_url"] == f"{base}/v1/envelopes/{envelope['id']}/document"
    document = await api.call("GET", document_path(envelope["id"]), "documents")
    written = json.dumps(crm.writes + list(crm.records.values()))
    assert b"%PDF" not in written.encode()
    assert document.content.decode("latin-1") not in written
