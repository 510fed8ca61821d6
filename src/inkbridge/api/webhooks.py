"""The webhook hot path: ``POST /v1/webhooks/{connection}``.

It does only this: enforce size and content-type limits, verify the signature on the raw bytes,
derive the dedup key, hand the receipt to the region's group-commit writer, wait for the durable
commit and answer with the provider's acknowledgement. Everything else (parsing into events, the
lifecycle state machine, CRM calls) happens later in the worker, reading the stored receipt.

The endpoint is a raw Starlette function on purpose: no request model, no dependency injection
and no ORM session, because it runs once per delivery and providers time out on slow answers.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from http import HTTPStatus
from urllib.parse import parse_qsl

import structlog
from prometheus_client import Counter
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from inkbridge import metrics
from inkbridge.errors import MalformedPayload, SignatureInvalid
from inkbridge.providers.base import InboundRequest
from inkbridge.providers.registry import ConnectionBinding
from inkbridge.store.inbox import ReceiptRow, WriterPool

log = structlog.get_logger(__name__)

WEBHOOK_PATH = "/v1/webhooks/{connection}"
PROBLEM_MEDIA_TYPE = "application/problem+json"

# Never stored with a receipt whatever the adapter says: credentials a proxy or a misconfigured
# sender may attach, which the worker has no use for.
ALWAYS_REDACTED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})

# The dedup_key column's width; a longer key would fail the whole group commit it joins.
MAX_DEDUP_KEY_LENGTH = 500

Endpoint = Callable[[Request], Awaitable[Response]]


def problem(status: int, detail: str, headers: Mapping[str, str] | None = None) -> Response:
    """An RFC 9457 problem-details response; ``about:blank`` as the status code says it all."""
    phrase = HTTPStatus(status).phrase
    body = json.dumps({"type": "about:blank", "title": phrase, "status": status, "detail": detail})
    return Response(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _header_map(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-cased header names to values; the first occurrence of a repeated header wins."""
    # Reversed, so that the first occurrence is the one assigned last.
    return {
        name.decode("latin-1").lower(): value.decode("latin-1") for name, value in reversed(raw)
    }


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The whole body, or ``None`` as soon as it grows past ``limit`` (chunked uploads).

    Reads the ASGI messages directly rather than through ``Request.stream()``: a webhook body
    nearly always arrives in one message, and the generator costs more than the read.
    """
    chunks: list[bytes] = []
    size = 0
    more_body = True
    while more_body:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        more_body = message.get("more_body", False)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class _Connection:
    """What the endpoint needs about one connection, resolved once instead of per request."""

    def __init__(self, binding: ConnectionBinding) -> None:
        self.binding = binding
        self.adapter = binding.adapter
        self.redacted = binding.adapter.secret_headers | ALWAYS_REDACTED_HEADERS
        self.ack_seconds = metrics.ACK_SECONDS.labels(binding.name)
        self._outcomes: dict[str, Counter] = {
            outcome: metrics.WEBHOOKS.labels(binding.name, outcome)
            for outcome in metrics.WEBHOOK_OUTCOMES
        }

    def count(self, outcome: str) -> None:
        self._outcomes[outcome].inc()

    def too_large(self) -> Response:
        self.count("too_large")
        log.info("webhook_rejected", outcome="too_large", connection=self.binding.name)
        return problem(413, f"the body may be at most {self.binding.max_body_bytes} bytes")


def webhook_endpoint(bindings: Mapping[str, ConnectionBinding], writers: WriterPool) -> Endpoint:
    """The ``POST /v1/webhooks/{connection}`` endpoint for the given connections."""
    connections = {name: _Connection(binding) for name, binding in bindings.items()}
    unknown = metrics.WEBHOOKS.labels(metrics.UNKNOWN_CONNECTION, "unknown_connection")

    async def receive_webhook(request: Request) -> Response:
        started = time.perf_counter()
        name: str = request.path_params["connection"]
        connection = connections.get(name)
        if connection is None:
            unknown.inc()
            log.info("webhook_rejected", outcome="unknown_connection", connection=name[:100])
            return problem(404, "no connection of that name is configured")
        binding, adapter = connection.binding, connection.adapter
        headers = _header_map(request.scope["headers"])

        # Servers reject a non-numeric Content-Length; the streaming limit covers the rest.
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > binding.max_body_bytes:
            return connection.too_large()
        try:
            body = await _read_body(request, binding.max_body_bytes)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is left to read an answer
        if body is None:
            return connection.too_large()

        query_string: bytes = request.scope.get("query_string", b"")
        inbound = InboundRequest(
            connection=name,
            method=request.method,
            headers=headers,
            query=dict(parse_qsl(query_string.decode("latin-1"))) if query_string else {},
            body=body,
            received_at=datetime.now(UTC),
        )
        media_type = inbound.content_type
        if media_type not in adapter.content_types:
            connection.count("unsupported_media_type")
            log.info("webhook_rejected", outcome="unsupported_media_type", connection=name)
            expected = ", ".join(sorted(adapter.content_types))
            return problem(415, f"the body must be one of: {expected}")

        try:
            adapter.verify(inbound)
        except SignatureInvalid as exc:
            # Nothing of the request is kept: a counter and a line with the adapter's reason.
            connection.count("invalid_signature")
            log.warning(
                "webhook_rejected", outcome="invalid_signature", connection=name, reason=exc.reason
            )
            return problem(401, f"signature verification failed: {exc.reason}")
        try:
            dedup_key = adapter.dedup_key(inbound)
            if len(dedup_key) > MAX_DEDUP_KEY_LENGTH:
                raise MalformedPayload(f"the delivery id is over {MAX_DEDUP_KEY_LENGTH} characters")
        except MalformedPayload as exc:
            connection.count("malformed")
            log.info("webhook_rejected", outcome="malformed", connection=name, reason=exc.reason)
            return problem(400, exc.reason)

        redacted = connection.redacted
        row = ReceiptRow(
            region=binding.region,
            connection=name,
            dedup_key=dedup_key,
            source="webhook",
            content_type=media_type,
            headers={key: value for key, value in headers.items() if key not in redacted},
            body=body,
            received_at=inbound.received_at,
        )
        try:
            receipt_id, inserted = await writers.submit(binding.region, row)
        except Exception as exc:
            # The class name only: driver errors quote the statement's parameters (the body).
            connection.count("store_failed")
            log.error("webhook_store_failed", connection=name, error=type(exc).__name__)
            return problem(
                503, "the delivery could not be stored; retry later", {"Retry-After": "1"}
            )

        connection.count("accepted" if inserted else "duplicate")
        # A duplicate gets exactly the acknowledgement the original got: the provider only
        # needs to know it can stop retrying.
        ack = adapter.acknowledge(inbound)
        response = Response(
            ack.body,
            status_code=ack.status,
            media_type=ack.media_type,
            headers={
                **ack.headers,
                "X-Inkbridge-Receipt": str(receipt_id),
                "X-Inkbridge-Duplicate": "false" if inserted else "true",
            },
        )
        connection.ack_seconds.observe(time.perf_counter() - started)
        return response

    return receive_webhook


async def _http_problem(_request: Request, exc: Exception) -> Response:
    # Routing errors (a wrong path, GET instead of POST) answer in the same problem format.
    assert isinstance(exc, HTTPException)
    return problem(exc.status_code, exc.detail, exc.headers)


def build_ingest_app(bindings: Mapping[str, ConnectionBinding], writers: WriterPool) -> Starlette:
    """An app serving only the webhook route; it drains and stops ``writers`` on shutdown."""

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # Everything alive now (modules, tables, compiled statements) lives for the whole process.
        # Frozen, the cyclic collector stops walking it on every full collection: under load those
        # walks set the p99 acknowledgement latency (~40 ms, ~9 ms frozen; see bench/README.md).
        gc.freeze()
        yield
        # Every submitted receipt is committed before the process goes away.
        await asyncio.to_thread(writers.stop_all)

    return Starlette(
        routes=[Route(WEBHOOK_PATH, webhook_endpoint(bindings, writers), methods=["POST"])],
        exception_handlers={HTTPException: _http_problem},
        lifespan=lifespan,
    )
