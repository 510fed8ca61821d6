"""The webhook hot path: ``POST /v1/webhooks/{connection}``.

It does only this: enforce size and content-type limits, verify the signature on the raw bytes,
derive the dedup key, hand the receipt to the region's group-commit writer, wait for the durable
commit and answer with the provider's acknowledgement. Everything else (parsing into events, the
lifecycle state machine, CRM calls) happens later in the worker, reading the stored receipt.

The handler is a raw ASGI callable on purpose, reached before any framework routing
(``IngestFront``): no request or response objects, no middleware, no dependency injection and
no ORM session, because it runs once per delivery and providers time out on slow answers.
Every other request passes through to the full application untouched.
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import structlog
from prometheus_client import Counter

from inkbridge import metrics
from inkbridge.errors import MalformedPayload, SignatureInvalid
from inkbridge.providers.base import InboundRequest
from inkbridge.providers.registry import ConnectionBinding
from inkbridge.store.receipt_inserts import ReceiptRow
from inkbridge.store.receipt_writer import WriterPool

log = structlog.get_logger(__name__)

WEBHOOK_PREFIX = "/v1/webhooks/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

# Never stored with a receipt whatever the adapter says: credentials a proxy or a misconfigured
# sender may attach, which the worker has no use for.
ALWAYS_REDACTED_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})

# The dedup_key column's width; a longer key would fail the whole group commit it joins.
MAX_DEDUP_KEY_LENGTH = 500

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
RawHeaders = list[tuple[bytes, bytes]]


class Disconnected(Exception):
    """The sender hung up before its body arrived."""


def problem_body(status: int, detail: str) -> bytes:
    """An RFC 9457 problem-details body; ``about:blank`` as the status code says it all."""
    phrase = HTTPStatus(status).phrase
    document = {"type": "about:blank", "title": phrase, "status": status, "detail": detail}
    return json.dumps(document).encode()


async def respond(
    send: Send,
    status: int,
    body: bytes,
    media_type: str,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Send a whole response in the two ASGI messages it takes."""
    raw: RawHeaders = [
        (b"content-type", media_type.encode("latin-1")),
        (b"content-length", str(len(body)).encode("latin-1")),
        *headers,
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def respond_problem(
    send: Send, status: int, detail: str, headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    await respond(send, status, problem_body(status, detail), PROBLEM_MEDIA_TYPE, headers)


def _header_map(raw: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-cased header names to values; the first occurrence of a repeated header wins."""
    # Reversed, so that the first occurrence is the one assigned last.
    return {
        name.decode("latin-1").lower(): value.decode("latin-1")
        for name, value in reversed(list(raw))
    }


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or ``None`` as soon as it grows past ``limit`` (chunked uploads).

    A webhook body nearly always arrives in one message, so that case joins nothing.
    """
    chunks: list[bytes] = []
    size = 0
    more_body = True
    while more_body:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected()
        chunk: bytes = message.get("body", b"")
        more_body = message.get("more_body", False)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class _Connection:
    """What the handler needs about one connection, resolved once instead of per request."""

    def __init__(self, binding: ConnectionBinding) -> None:
        self.binding = binding
        self.adapter = binding.adapter
        self.redacted = binding.adapter.secret_headers | ALWAYS_REDACTED_HEADERS
        self.ack_seconds = metrics.ACK_SECONDS.labels(binding.name)
        self._outcomes: dict[str, Counter] = {
            outcome: metrics.WEBHOOKS.labels(binding.name, outcome)
            for outcome in metrics.WEBHOOK_OUTCOMES
        }
        self.expected_types = ", ".join(sorted(binding.adapter.content_types))

    def count(self, outcome: str) -> None:
        self._outcomes[outcome].inc()

    @staticmethod
    def ack_type(media_type: str) -> str:
        # Text answers say their charset, as HTTP frameworks write them.
        if media_type.startswith("text/") and "charset" not in media_type:
            return f"{media_type}; charset=utf-8"
        return media_type

    async def too_large(self, send: Send) -> None:
        self.count("too_large")
        log.info("webhook_rejected", outcome="too_large", connection=self.binding.name)
        limit = self.binding.max_body_bytes
        await respond_problem(send, 413, f"the body may be at most {limit} bytes")


class WebhookIngest:
    """Receives one webhook delivery for a named connection (see the module docstring)."""

    def __init__(self, bindings: Mapping[str, ConnectionBinding], writers: WriterPool) -> None:
        self.writers = writers
        self._connections = {name: _Connection(binding) for name, binding in bindings.items()}
        self._unknown = metrics.WEBHOOKS.labels(metrics.UNKNOWN_CONNECTION, "unknown_connection")

    async def __call__(self, name: str, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        connection = self._connections.get(name)
        if connection is None:
            self._unknown.inc()
            log.info("webhook_rejected", outcome="unknown_connection", connection=name[:100])
            await respond_problem(send, 404, "no connection of that name is configured")
            return
        binding, adapter = connection.binding, connection.adapter
        headers = _header_map(scope["headers"])

        # Servers reject a non-numeric Content-Length; the streaming limit covers the rest.
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > binding.max_body_bytes:
            await connection.too_large(send)
            return
        try:
            body = await read_body(receive, binding.max_body_bytes)
        except Disconnected:
            return  # nobody is left to read an answer
        if body is None:
            await connection.too_large(send)
            return

        query_string: bytes = scope.get("query_string", b"")
        inbound = InboundRequest(
            connection=name,
            method="POST",
            headers=headers,
            query=dict(parse_qsl(query_string.decode("latin-1"))) if query_string else {},
            body=body,
            received_at=datetime.now(UTC),
        )
        media_type = inbound.content_type
        if media_type not in adapter.content_types:
            connection.count("unsupported_media_type")
            log.info("webhook_rejected", outcome="unsupported_media_type", connection=name)
            detail = f"the body must be one of: {connection.expected_types}"
            await respond_problem(send, 415, detail)
            return

        try:
            adapter.verify(inbound)
        except SignatureInvalid as exc:
            # Nothing of the request is kept: a counter and a line with the adapter's reason.
            connection.count("invalid_signature")
            log.warning(
                "webhook_rejected", outcome="invalid_signature", connection=name, reason=exc.reason
            )
            await respond_problem(send, 401, f"signature verification failed: {exc.reason}")
            return
        try:
            dedup_key = adapter.dedup_key(inbound)
            if len(dedup_key) > MAX_DEDUP_KEY_LENGTH:
                raise MalformedPayload(f"the delivery id is over {MAX_DEDUP_KEY_LENGTH} characters")
        except MalformedPayload as exc:
            connection.count("malformed")
            log.info("webhook_rejected", outcome="malformed", connection=name, reason=exc.reason)
            await respond_problem(send, 400, exc.reason)
            return

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
            receipt_id, inserted = await self.writers.submit(binding.region, row)
        except Exception as exc:
            # The class name only: driver errors quote the statement's parameters (the body).
            connection.count("store_failed")
            log.error("webhook_store_failed", connection=name, error=type(exc).__name__)
            detail = "the delivery could not be stored; retry later"
            await respond_problem(send, 503, detail, [(b"retry-after", b"1")])
            return

        connection.count("accepted" if inserted else "duplicate")
        # A duplicate gets exactly the acknowledgement the original got: the provider only
        # needs to know it can stop retrying.
        ack = adapter.acknowledge(inbound)
        extra: RawHeaders = [
            (name_.lower().encode("latin-1"), value.encode("latin-1"))
            for name_, value in ack.headers.items()
        ]
        extra.append((b"x-inkbridge-receipt", str(receipt_id).encode()))
        extra.append((b"x-inkbridge-duplicate", b"false" if inserted else b"true"))
        await respond(send, ack.status, ack.body, connection.ack_type(ack.media_type), extra)
        connection.ack_seconds.observe(time.perf_counter() - started)


def webhook_connection(scope: Scope) -> str | None:
    """The connection name when ``scope`` is a POST to the webhook route, else ``None``."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path: str = scope["path"]
    if not path.startswith(WEBHOOK_PREFIX):
        return None
    name = path[len(WEBHOOK_PREFIX) :]
    return name if name and "/" not in name else None


class IngestFront:
    """The outermost ASGI app: webhook deliveries go straight to ``WebhookIngest``, everything
    else to ``app``. Without ``app`` it serves the webhook route alone (with its own lifespan),
    answering any other request as a problem: 405 on the webhook path, 404 elsewhere."""

    def __init__(self, ingest: WebhookIngest, app: ASGIApp | None = None) -> None:
        self.ingest = ingest
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = webhook_connection(scope)
        if name is not None:
            try:
                await self.ingest(name, scope, receive, send)
            except Exception as exc:
                # The class name only, as everywhere on this path: nothing of the body.
                log.error("webhook_failed", connection=name[:100], error=type(exc).__name__)
                await respond_problem(send, 500, "the delivery could not be handled")
            return
        if self.app is not None:
            await self.app(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            path: str = scope["path"]
            rest = path[len(WEBHOOK_PREFIX) :] if path.startswith(WEBHOOK_PREFIX) else "/"
            if rest and "/" not in rest:
                await respond_problem(send, 405, "Method Not Allowed", [(b"allow", b"POST")])
            else:
                await respond_problem(send, 404, "Not Found")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                # Everything alive now (modules, tables, compiled statements) lives for the whole
                # process. Frozen, the cyclic collector stops walking it on every full
                # collection: under load those walks set the p99 acknowledgement latency
                # (~40 ms, ~9 ms frozen; see bench/README.md).
                gc.collect()
                gc.freeze()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # Every submitted receipt is committed before the process goes away.
                await asyncio.to_thread(self.ingest.writers.stop_all)
                await send({"type": "lifespan.shutdown.complete"})
                return


def build_ingest_app(bindings: Mapping[str, ConnectionBinding], writers: WriterPool) -> IngestFront:
    """An app serving only the webhook route; it drains and stops ``writers`` on shutdown."""
    return IngestFront(WebhookIngest(bindings, writers))
