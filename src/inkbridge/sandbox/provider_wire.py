"""The sandbox provider's wire format: one event in inkbridge's normalized Standard Webhooks
shape, encoded to bytes and signed.

``StandardWebhooksAdapter.parse`` reads exactly this shape, so tests can craft deliveries with
``build_event`` and ``signed_delivery`` and post them straight at the webhook endpoint.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from inkbridge.domain.events import EventType
from inkbridge.providers.standard_webhooks.adapter import signed_headers


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_msg_id() -> str:
    """A Standard Webhooks message id; one per event, reused by every retry and duplicate."""
    return "msg_" + secrets.token_hex(16)


def build_event(
    event_type: EventType | str,
    *,
    envelope_id: str,
    occurred_at: datetime,
    metadata: Mapping[str, str] | None = None,
    recipient_id: str | None = None,
    recipient_email: str | None = None,
    timestamp: datetime | None = None,
) -> dict[str, Any]:
    """One event as the sandbox provider sends it.

    ``occurred_at`` is when it happened at the provider (it feeds milestones); ``timestamp`` is
    when the message was built and defaults to now.
    """
    return {
        "type": str(event_type),
        "timestamp": (timestamp or utc_now()).isoformat(),
        "data": {
            "envelope_id": envelope_id,
            "occurred_at": occurred_at.isoformat(),
            "recipient_id": recipient_id,
            "recipient_email": recipient_email,
            "metadata": {str(k): str(v) for k, v in (metadata or {}).items()},
        },
    }


def encode_event(event: Mapping[str, Any]) -> bytes:
    """The exact body bytes; signatures cover these, so they are built once per event."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()


def delivery_headers(
    secret: str, msg_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    """Headers for one delivery attempt; the timestamp is fresh on every attempt, as senders do."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": "application/json",
        "user-agent": "inkbridge-sandbox-provider/1",
        **signed_headers(secret, msg_id, stamp, body),
    }


def signed_delivery(
    secret: str,
    event: Mapping[str, Any],
    *,
    msg_id: str | None = None,
    timestamp: int | None = None,
) -> tuple[dict[str, str], bytes]:
    """(headers, body) for one event, signed as the sandbox provider would sign it."""
    body = encode_event(event)
    return delivery_headers(secret, msg_id or new_msg_id(), body, timestamp), body
