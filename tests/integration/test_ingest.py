"""The webhook hot path end to end on real SQLite and PostgreSQL: what is stored, what is
answered, and that concurrent deliveries share commits without losing or doubling a receipt.

Requests are signed with the official ``standardwebhooks`` package, which we did not write, so a
pass proves wire compatibility rather than agreement with ourselves.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from math import floor
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook
from structlog.testing import capture_logs

from inkbridge import metrics
from inkbridge.api.webhooks import build_ingest_app
from inkbridge.providers.registry import ConnectionBinding
from inkbridge.providers.standard_webhooks.adapter import StandardWebhooksAdapter
from inkbridge.store.database import Databases, RegionDatabase
from inkbridge.store.receipt_inserts import ReceiptRow
from inkbridge.store.receipt_writer import GroupCommitWriter, WriterPool
from inkbridge.store.receipts import load as load_receipt
from inkbridge.store.schema import webhook_receipts

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ROTATED_OUT = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"  # the previous secret, still accepted
STRANGER = "whsec_dGhpcyBpcyBub3Qgb3VyIHNlY3JldCBhdCBhbGw="
CONNECTION = "sandbox"
URL = f"/v1/webhooks/{CONNECTION}"
MAX_BODY = 4096


def event_body(envelope: str = "env-1", kind: str = "document_sent") -> str:
    return json.dumps(
        {
            "type": kind,
            "timestamp": "2024-05-01T10:00:00Z",
            "data": {"envelope_id": envelope, "occurred_at": "2024-05-01T10:00:00Z"},
        }
    )


def signed_headers(
    body: str, msg_id: str, secret: str = SECRET, at: datetime | None = None
) -> dict[str, str]:
    moment = at or datetime.now(UTC)
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(floor(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, moment, body),
    }


def _now_offset(seconds: int) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def count_receipts(db: RegionDatabase) -> int:
    with db.reader() as conn:
        return int(conn.execute(select(func.count()).select_from(webhook_receipts)).scalar_one())


def webhook_count(outcome: str, connection: str = CONNECTION) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "inkbridge_webhooks_total", {"connection": connection, "outcome": outcome}
    )
    return value or 0.0


def receipt_row(key: str) -> ReceiptRow:
    return ReceiptRow(
        region="default",
        connection=CONNECTION,
        dedup_key=key,
        source="webhook",
        content_type="application/json",
        headers={"webhook-id": key},
        body=event_body(key).encode(),
        received_at=datetime.now(UTC),
    )


@dataclass
class Ingest:
    client: httpx.AsyncClient
    db: RegionDatabase

    async def deliver(
        self, body: str, msg_id: str, secret: str = SECRET, at: datetime | None = None
    ) -> httpx.Response:
        return await self.client.post(
            URL, content=body.encode(), headers=signed_headers(body, msg_id, secret, at)
        )


def binding() -> ConnectionBinding:
    adapter = StandardWebhooksAdapter(
        [SecretStr(SECRET), SecretStr(ROTATED_OUT)], provider="standard_webhooks"
    )
    return ConnectionBinding(
        name=CONNECTION,
        region="default",
        provider="standard_webhooks",
        adapter=adapter,
        max_body_bytes=MAX_BODY,
    )


@pytest.fixture
async def ingest(databases: Databases) -> AsyncIterator[Ingest]:
    writers = WriterPool(databases)
    app = build_ingest_app({CONNECTION: binding()}, writers)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://inkbridge.test") as client:
        yield Ingest(client, databases.home)
    writers.stop_all()


async def test_a_valid_delivery_is_stored_once_and_acknowledged(ingest: Ingest) -> None:
    body = event_body()
    accepted_before = webhook_count("accepted")
    headers = signed_headers(body, "msg_valid_1")
    headers |= {"authorization": "Bearer not-for-the-inbox", "cookie": "session=abc"}

    response = await ingest.client.post(URL, content=body.encode(), headers=headers)

    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert response.headers["x-inkbridge-duplicate"] == "false"
    with ingest.db.reader() as conn:
        rows = conn.execute(select(webhook_receipts)).mappings().all()
        opened = load_receipt(conn, rows[0]["id"])
    assert len(rows) == 1
    row = rows[0]
    assert opened is not None
    assert row["id"] == int(response.headers["x-inkbridge-receipt"])
    assert row["connection"] == CONNECTION
    assert row["dedup_key"] == "msg_valid_1"
    assert row["source"] == "webhook"
    assert row["status"] == "pending"
    assert row["attempts"] == 0
    assert row["content_type"] == "application/json"
    assert opened.body == body.encode()
    assert row["region"] == "default"
    assert row["received_at"].tzinfo is not None
    # The signature is a credential-like value: it never reaches the database.
    assert not {"webhook-signature", "authorization", "cookie"} & set(opened.headers)
    assert opened.headers["webhook-id"] == "msg_valid_1"
    assert webhook_count("accepted") == accepted_before + 1


async def test_a_duplicate_delivery_is_acknowledged_the_same_and_changes_nothing(
    ingest: Ingest,
) -> None:
    first = await ingest.deliver(event_body(), "msg_dup")
    # Providers re-sign a retry with a fresh timestamp but keep the message id.
    retry = await ingest.deliver(event_body(), "msg_dup", at=_now_offset(30))

    assert first.status_code == retry.status_code == 200
    assert retry.content == first.content
    assert retry.headers["content-type"] == first.headers["content-type"]
    assert retry.headers["x-inkbridge-receipt"] == first.headers["x-inkbridge-receipt"]
    assert retry.headers["x-inkbridge-duplicate"] == "true"
    assert count_receipts(ingest.db) == 1


async def test_the_second_of_two_rotated_secrets_is_accepted(ingest: Ingest) -> None:
    response = await ingest.deliver(event_body(), "msg_rotated", secret=ROTATED_OUT)

    assert response.status_code == 200
    assert count_receipts(ingest.db) == 1


def _bad_requests() -> Iterator[Any]:
    """(name, expected status, outcome, request kwargs built lazily so timestamps are fresh)."""
    body = event_body()

    def signed(content: str = body, **sign: Any) -> dict[str, Any]:
        return {"content": content.encode(), "headers": signed_headers(content, "msg_bad", **sign)}

    def oversized() -> dict[str, Any]:
        padded = json.dumps({"type": "document_sent", "data": {"pad": "x" * MAX_BODY}})
        return signed(padded)

    def oversized_chunked() -> dict[str, Any]:
        request = oversized()
        whole = request.pop("content")

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(whole), 1000):
                yield whole[start : start + 1000]

        # A streamed body goes out with Transfer-Encoding: chunked and no Content-Length.
        return {"content": chunks(), "headers": request["headers"]}

    def wrong_type() -> dict[str, Any]:
        request = signed()
        request["headers"]["content-type"] = "text/plain"
        return request

    def tampered() -> dict[str, Any]:
        request = signed()
        request["content"] = event_body(envelope="env-2").encode()
        return request

    def missing(header: str) -> Any:
        def build() -> dict[str, Any]:
            request = signed()
            del request["headers"][header]
            return request

        return build

    def unknown_connection() -> dict[str, Any]:
        return {**signed(), "url": "/v1/webhooks/nobody"}

    cases = [
        ("unknown connection", 404, "unknown_connection", unknown_connection),
        ("oversized body", 413, "too_large", oversized),
        ("oversized chunked body", 413, "too_large", oversized_chunked),
        ("wrong content type", 415, "unsupported_media_type", wrong_type),
        ("signed with another secret", 401, "invalid_signature", lambda: signed(secret=STRANGER)),
        ("tampered body", 401, "invalid_signature", tampered),
        ("timestamp too old", 401, "invalid_signature", lambda: signed(at=_now_offset(-600))),
        ("timestamp in the future", 401, "invalid_signature", lambda: signed(at=_now_offset(600))),
        ("missing signature", 401, "invalid_signature", missing("webhook-signature")),
        ("missing id", 401, "invalid_signature", missing("webhook-id")),
        ("missing timestamp", 401, "invalid_signature", missing("webhook-timestamp")),
        ("malformed json", 400, "malformed", lambda: signed("{not json")),
        ("json that is not an object", 400, "malformed", lambda: signed("[1, 2, 3]")),
    ]
    for name, status, outcome, build in cases:
        yield pytest.param(status, outcome, build, id=name)


@pytest.mark.parametrize(("status", "outcome", "build"), list(_bad_requests()))
async def test_a_bad_request_is_refused_and_stores_nothing(
    ingest: Ingest, status: int, outcome: str, build: Any
) -> None:
    await ingest.deliver(event_body(), "msg_good")  # so "unchanged" is not just "still empty"
    labels = metrics.UNKNOWN_CONNECTION if outcome == "unknown_connection" else CONNECTION
    refused_before = webhook_count(outcome, labels)
    request = build()

    response = await ingest.client.post(request.pop("url", URL), **request)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert set(problem) == {"type", "title", "status", "detail"}
    assert problem["status"] == status
    assert count_receipts(ingest.db) == 1
    assert webhook_count(outcome, labels) == refused_before + 1


@pytest.mark.parametrize(
    ("method", "url", "status"), [("GET", URL, 405), ("POST", "/v1/elsewhere", 404)]
)
async def test_routing_errors_are_problem_details_too(
    ingest: Ingest, method: str, url: str, status: int
) -> None:
    response = await ingest.client.request(method, url)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == status


async def test_a_bad_signature_leaves_only_a_redacted_log_line(ingest: Ingest) -> None:
    body = event_body()
    headers = signed_headers(body, "msg_forged", secret=STRANGER)
    headers["authorization"] = "Bearer do-not-log-me"

    with capture_logs() as logs:
        response = await ingest.client.post(URL, content=body.encode(), headers=headers)

    assert response.status_code == 401
    assert logs == [
        {
            "event": "webhook_rejected",
            "log_level": "warning",
            "outcome": "invalid_signature",
            "connection": CONNECTION,
            "reason": "no signature matched",
        }
    ]
    assert count_receipts(ingest.db) == 0


async def test_concurrent_deliveries_store_each_distinct_delivery_exactly_once(
    ingest: Ingest,
) -> None:
    distinct = [f"msg_burst_{n}" for n in range(150)]
    deliveries = distinct + distinct[:50]  # 50 providers' retries racing their originals
    random.Random(7).shuffle(deliveries)

    responses = await asyncio.gather(
        *(ingest.deliver(event_body(msg_id), msg_id) for msg_id in deliveries)
    )

    assert [r.status_code for r in responses] == [200] * 200
    assert count_receipts(ingest.db) == 150
    receipt_of: dict[str, set[str]] = {}
    for msg_id, response in zip(deliveries, responses, strict=True):
        receipt_of.setdefault(msg_id, set()).add(response.headers["x-inkbridge-receipt"])
    assert all(len(ids) == 1 for ids in receipt_of.values())
    duplicates = [r for r in responses if r.headers["x-inkbridge-duplicate"] == "true"]
    assert len(duplicates) == 50


async def test_a_store_failure_is_answered_503_and_acknowledges_nothing(tmp_path: Any) -> None:
    # A database nobody migrated: the insert fails, so the delivery must not be acknowledged.
    broken = Databases({"default": f"sqlite:///{tmp_path}/unmigrated.db"}, home_region="default")
    writers = WriterPool(broken)
    app = build_ingest_app({CONNECTION: binding()}, writers)
    failed_before = webhook_count("store_failed")
    body = event_body()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://inkbridge.test"
        ) as client:
            response = await client.post(
                URL, content=body.encode(), headers=signed_headers(body, "msg_lost")
            )
    finally:
        writers.stop_all()
        broken.dispose()

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "x-inkbridge-receipt" not in response.headers
    assert webhook_count("store_failed") == failed_before + 1


async def test_the_group_commit_writer_puts_many_rows_in_one_commit(
    databases: Databases,
) -> None:
    commits = {"region": "default"}
    commits_before = metrics.REGISTRY.get_sample_value(
        "inkbridge_group_commit_batch_rows_count", commits
    )
    writer = GroupCommitWriter(databases.home)
    writer.start()
    try:
        outcomes = await asyncio.gather(*(writer.submit(receipt_row(f"k{n}")) for n in range(200)))
    finally:
        writer.stop()

    assert all(inserted for _, inserted in outcomes)
    assert len({receipt_id for receipt_id, _ in outcomes}) == 200
    assert count_receipts(databases.home) == 200
    assert writer.stats.rows == 200
    assert writer.stats.largest_batch > 1
    assert writer.stats.batches < 200
    commits_after = metrics.REGISTRY.get_sample_value(
        "inkbridge_group_commit_batch_rows_count", commits
    )
    assert commits_after == (commits_before or 0) + writer.stats.batches
    assert b"inkbridge_group_commit_batch_rows" in metrics.render()


async def test_a_failed_batch_fails_every_caller_in_it(tmp_path: Any) -> None:
    broken = Databases({"default": f"sqlite:///{tmp_path}/unmigrated.db"}, home_region="default")
    writer = GroupCommitWriter(broken.home)
    writer.start()
    try:
        outcomes = await asyncio.gather(
            *(writer.submit(receipt_row(f"k{n}")) for n in range(20)), return_exceptions=True
        )
    finally:
        writer.stop()
        broken.dispose()

    assert all(isinstance(outcome, Exception) for outcome in outcomes)
    assert writer.stats.rows == 0


async def test_stopping_the_writer_commits_what_was_already_submitted(
    databases: Databases,
) -> None:
    writer = GroupCommitWriter(databases.home)
    writer.start()
    pending = [asyncio.ensure_future(writer.submit(receipt_row(f"k{n}"))) for n in range(50)]
    await asyncio.sleep(0)  # let every submit reach the queue

    await asyncio.to_thread(writer.stop)
    outcomes = await asyncio.gather(*pending)

    assert len(outcomes) == 50
    assert count_receipts(databases.home) == 50
    with pytest.raises(RuntimeError):
        await writer.submit(receipt_row("late"))


async def test_two_writers_racing_on_the_same_keys_store_one_row_per_key(
    databases: Databases,
) -> None:
    # Two writers stand for two server processes sharing one database; the second one is
    # driven from its own thread and event loop, as a second process's requests would be.
    keys = [f"race_{n}" for n in range(120)]
    first, second = GroupCommitWriter(databases.home), GroupCommitWriter(databases.home)
    first.start()
    second.start()

    async def submit_all(writer: GroupCommitWriter, seed: int) -> dict[str, tuple[int, bool]]:
        order = list(keys)
        random.Random(seed).shuffle(order)
        outcomes = await asyncio.gather(*(writer.submit(receipt_row(key)) for key in order))
        return dict(zip(order, outcomes, strict=True))

    try:
        here, there = await asyncio.gather(
            submit_all(first, 1), asyncio.to_thread(asyncio.run, submit_all(second, 2))
        )
    finally:
        first.stop()
        second.stop()

    assert count_receipts(databases.home) == len(keys)
    for key in keys:
        assert here[key][0] == there[key][0]  # both callers learn the one stored receipt
        assert here[key][1] != there[key][1]  # and exactly one of them inserted it


class _BrokenAdapter(StandardWebhooksAdapter):
    """An adapter with a bug: its dedup key raises something no one planned for."""

    def dedup_key(self, request: Any) -> str:
        raise KeyError("a bug, not bad input")


async def test_an_unexpected_error_is_a_500_problem_that_stores_nothing(
    databases: Databases,
) -> None:
    adapter = _BrokenAdapter([SecretStr(SECRET)], provider="standard_webhooks")
    broken = ConnectionBinding(
        name=CONNECTION,
        region="default",
        provider="standard_webhooks",
        adapter=adapter,
        max_body_bytes=MAX_BODY,
    )
    writers = WriterPool(databases)
    app = build_ingest_app({CONNECTION: broken}, writers)
    body = event_body()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://inkbridge.test"
        ) as client:
            with capture_logs() as logs:
                response = await client.post(
                    URL, content=body.encode(), headers=signed_headers(body, "msg_bug")
                )
    finally:
        writers.stop_all()

    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert logs == [
        {
            "event": "webhook_failed",
            "log_level": "error",
            "connection": CONNECTION,
            "error": "KeyError",
        }
    ]
    assert count_receipts(databases.home) == 0


async def test_only_a_post_to_one_connection_takes_the_hot_path(
    ingest: Ingest,
) -> None:
    # A nested path is not a connection name: it is routed like any other unknown path.
    body = event_body()
    nested = await ingest.client.post(
        f"{URL}/extra", content=body.encode(), headers=signed_headers(body, "msg_nested")
    )
    empty = await ingest.client.post("/v1/webhooks/", content=body.encode())

    assert nested.status_code == 404
    assert empty.status_code == 404
    assert count_receipts(ingest.db) == 0
