"""The webhook hot path end to end on real SQLite and PostgreSQL: what is stored and answered
for good deliveries, duplicates and rotated secrets, concurrent deliveries stored exactly once,
a store failure answered 503, and the one route that takes the hot path.

Requests are signed with the official ``standardwebhooks`` package, which we did not write, so a
pass proves wire compatibility rather than agreement with ourselves."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
from sqlalchemy import select

from inkbridge.api.webhooks import build_ingest_app
from inkbridge.store.database import Databases
from inkbridge.store.receipt_writer import WriterPool
from inkbridge.store.receipts import load as load_receipt
from inkbridge.store.schema import webhook_receipts

from .support import (
    CONNECTION,
    ROTATED_OUT,
    URL,
    Ingest,
    _now_offset,
    binding,
    count_receipts,
    event_body,
    signed_headers,
    webhook_count,
)


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
