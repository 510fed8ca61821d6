"""What the webhook hot path refuses, on real SQLite and PostgreSQL: bad requests and routing
errors as problem details storing nothing, a bad signature leaving only a redacted log line,
and an unexpected error answered as a 500 problem."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from inkbridge import metrics
from inkbridge.api.webhooks import build_ingest_app
from inkbridge.providers.registry import ConnectionBinding
from inkbridge.providers.standard_webhooks.adapter import StandardWebhooksAdapter
from inkbridge.store.database import Databases
from inkbridge.store.receipt_writer import WriterPool

from .support import (
    CONNECTION,
    MAX_BODY,
    SECRET,
    STRANGER,
    URL,
    Ingest,
    _now_offset,
    count_receipts,
    event_body,
    signed_headers,
    webhook_count,
)


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
