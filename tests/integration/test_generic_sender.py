"""A sender inkbridge has no adapter for, connected by configuration alone: its own event names
and payload shape, read through the connection's mapping, take an envelope through a whole
lifecycle in the real app to the sandbox CRM; an event it does not map is kept as ignored with
its reason, counted, and listed for the operator; the native format's schema is served."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from inkbridge import metrics
from inkbridge.api.app import create_app
from inkbridge.bootstrap import Container, bootstrap
from inkbridge.sandbox.mounts import sandbox_mounts
from inkbridge.services.tokens import create_token
from inkbridge.store import envelopes as envelope_store
from inkbridge.vendor_http.body_hmac import body_signature
from tests.support.builders import SECRET, event_body, make_settings, signed
from tests.support.senders import ACME_MAPPING  # the sender's own vocabulary
from tests.support.worker import deliver_all, drain_receipts

BASE = "http://127.0.0.1:8000"
PLAIN_SECRET = "acme-plain-hmac-secret"
# Another sender that signs with a plain HMAC-SHA256 body header and has its own shape.
PLAIN_MAPPING = {
    "events": {"user.document.complete": "completed"},
    "type": "meta.event",
    "envelope_id": "content.document_id",
    "event_id": "meta.id",
}


@dataclass
class Stack:
    container: Container
    http: httpx.AsyncClient
    admin: dict[str, str]


@pytest.fixture
async def stack(tmp_path: Path, db_url: str) -> AsyncIterator[Stack]:
    (tmp_path / "plain.secret").write_text(PLAIN_SECRET)
    sandbox_secret = f"file:{tmp_path / 'sandbox.secret'}"  # written by make_settings
    settings = make_settings(
        tmp_path,
        db_url,
        sandbox=True,
        destinations={"crm": {"kind": "sandbox_crm"}},
        connections={
            "sandbox": {"provider": "sandbox", "secrets": [sandbox_secret]},
            "acme": {
                "provider": "standard_webhooks",
                "secrets": [sandbox_secret],
                "mapping": ACME_MAPPING,
            },
            "plain": {
                "provider": "standard_webhooks",
                "secrets": [f"file:{tmp_path / 'plain.secret'}"],
                "mapping": PLAIN_MAPPING,
                "signature": {"scheme": "hmac_sha256", "header": "X-Plain-Signature"},
            },
        },
    )
    # The app is built first and the container's HTTP client routed into it, as if over TCP:
    # the CRM connector then writes to the sandbox CRM the app mounts.
    seed = bootstrap(settings, auto_migrate=True)
    front = create_app(seed, sandbox_apps=sandbox_mounts(settings, seed.databases))
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=front), base_url=BASE)
    container = bootstrap(settings, http=http)
    _, admin = create_token(container.databases, "admin", ["admin"])
    yield Stack(container, http, {"authorization": f"Bearer {admin}"})
    front.ingest.writers.stop_all()
    await http.aclose()
    container.databases.dispose()
    seed.databases.dispose()


def acme_body(kind: str, document: str | None, at: datetime, signer: bool = False) -> bytes:
    data: dict[str, Any] = {} if document is None else {"envelope_id": document}
    if signer:
        data["signer"] = {"id": "s-1", "email": "ada@example.com"}
    return json.dumps({"type": kind, "timestamp": at.isoformat(), "data": data}).encode()


async def post(stack: Stack, connection: str, body: bytes, headers: dict[str, str]) -> None:
    answer = await stack.http.post(f"/v1/webhooks/{connection}", content=body, headers=headers)
    assert answer.status_code == 200, answer.text


def ignored_count(connection: str, reason: str) -> float:
    labels = {"connection": connection, "reason": reason}
    return metrics.REGISTRY.get_sample_value("inkbridge_receipts_ignored_total", labels) or 0.0


async def ignored_receipts(stack: Stack) -> list[dict[str, Any]]:
    answer = await stack.http.get("/v1/admin/receipts?status=ignored", headers=stack.admin)
    assert answer.status_code == 200
    receipts: list[dict[str, Any]] = answer.json()["receipts"]
    return receipts


async def test_a_sender_vocabulary_takes_an_envelope_through_its_lifecycle_to_the_crm(
    stack: Stack,
) -> None:
    start = datetime.now(UTC) - timedelta(minutes=30)
    lifecycle = [
        acme_body("envelope.sent", "doc-77", start),
        acme_body("envelope.viewed", "doc-77", start + timedelta(minutes=3), signer=True),
        acme_body("signer.signed", "doc-77", start + timedelta(minutes=8), signer=True),
        acme_body("envelope.completed", "doc-77", start + timedelta(minutes=9)),
    ]
    for body in lifecycle:
        await post(stack, "acme", body, signed(body))
    drain_receipts(stack.container)
    await deliver_all(stack.container)

    with stack.container.databases.home.reader() as conn:
        envelope = envelope_store.find_by_provider_ref(conn, "acme", "doc-77")
        assert envelope is not None
        recipients = envelope_store.recipient_rows(conn, envelope.id)
    assert envelope.state == "completed"
    assert [r.status for r in recipients] == ["signed"]
    record = await stack.http.get(
        f"/sandbox/crm/records/envelope:{envelope.id}", headers=stack.admin
    )
    assert record.status_code == 200
    assert record.json()["properties"]["inkbridge_status"] == "completed"
    assert await ignored_receipts(stack) == []


async def test_an_unmapped_event_is_listed_as_ignored_with_its_reason_and_counted(
    stack: Stack,
) -> None:
    before = ignored_count("acme", "unmapped_event")
    missing_before = ignored_count("acme", "no_envelope_id")
    now = datetime.now(UTC)
    archived = acme_body("envelope.archived", "doc-78", now)
    await post(stack, "acme", archived, signed(archived))
    no_id = acme_body("envelope.sent", None, now)
    await post(stack, "acme", no_id, signed(no_id))
    drain_receipts(stack.container)

    listed = {r["reason"]: r for r in await ignored_receipts(stack)}
    assert set(listed) == {
        "unmapped event type 'envelope.archived'",
        "'envelope.sent' has no envelope id at data.envelope_id",
    }
    assert all(r["connection"] == "acme" and r["status"] == "ignored" for r in listed.values())
    assert ignored_count("acme", "unmapped_event") == before + 1
    assert ignored_count("acme", "no_envelope_id") == missing_before + 1
    with stack.container.databases.home.reader() as conn:
        assert envelope_store.find_by_provider_ref(conn, "acme", "doc-78") is None


async def test_a_sender_signing_with_a_plain_body_hmac_is_verified_and_deduplicated(
    stack: Stack,
) -> None:
    body = json.dumps(
        {
            "meta": {"id": "evt-1", "event": "user.document.complete"},
            "content": {"document_id": "d-9"},
        }
    ).encode()
    headers = {
        "content-type": "application/json",
        "x-plain-signature": body_signature(PLAIN_SECRET, body),
    }
    await post(stack, "plain", body, headers)
    await post(stack, "plain", body, headers)  # a redelivery: the same event id
    forged = await stack.http.post(
        "/v1/webhooks/plain",
        content=body,
        headers={**headers, "x-plain-signature": body_signature("not-the-secret", body)},
    )
    assert forged.status_code == 401
    drain_receipts(stack.container)

    with stack.container.databases.home.reader() as conn:
        envelope = envelope_store.find_by_provider_ref(conn, "plain", "d-9")
    assert envelope is not None and envelope.state == "completed"


async def test_the_native_schema_is_served_publicly_and_validates_native_bodies(
    stack: Stack,
) -> None:
    answer = await stack.http.get("/v1/schemas/standard-webhooks.json")
    assert answer.status_code == 200
    schema = answer.json()
    validator = jsonschema.Draft202012Validator(schema)
    jsonschema.Draft202012Validator.check_schema(schema)
    for example in schema["examples"]:
        validator.validate(example)
    native = json.loads(event_body("document_completed", "doc-1", datetime.now(UTC), "1"))
    validator.validate(native)
    unnamed = {"type": "envelope.sent", "timestamp": "2025-03-04T10:00:00Z", "data": {}}
    assert not validator.is_valid(unnamed)


async def test_a_native_delivery_reaches_done_on_a_connection_without_mapping(
    stack: Stack,
) -> None:
    body = event_body("document_sent", f"sb-{uuid.uuid4().hex[:8]}", datetime.now(UTC))
    await post(stack, "sandbox", body, signed(body, secret=SECRET))
    drain_receipts(stack.container)
    assert await ignored_receipts(stack) == []
