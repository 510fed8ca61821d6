"""The outbound webhook destination: each change POSTed as a Standard Webhooks message, the
low-code path into Zapier, n8n or a customer's own endpoint.

The ``webhook-id`` is derived from the change's idempotency key, so every retry and every replay
of the same business fact carries the same id and receivers can deduplicate on it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime

import httpx

from inkbridge.connectors.base import BatchResult, Change
from inkbridge.connectors.one_by_one import apply_in_order
from inkbridge.errors import ConfigError
from inkbridge.vendor_http.responses import raise_for_answer, send
from inkbridge.vendor_http.signing import secret_key, signed_headers

CORRELATION_HEADER = "X-Inkbridge-Correlation-Id"


def message_id(idempotency_key: str) -> str:
    """A stable ``webhook-id`` for one business fact."""
    return "msg_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]


def message_body(change: Change, now: datetime | None = None) -> bytes:
    event = {
        "type": change.kind,
        "timestamp": (now or datetime.now(UTC)).isoformat(),
        "data": dict(change.payload),
    }
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False, default=str).encode()


class OutboundWebhookConnector:
    """``Connector`` that signs and POSTs one message per change to ``url``."""

    def __init__(
        self, name: str, url: str, secret: str, client: httpx.AsyncClient, max_batch: int = 1
    ) -> None:
        try:
            secret_key(secret)
        except ValueError:
            raise ConfigError(
                f"webhook destination {name!r}: secret must be whsec_<base64>"
            ) from None
        if max_batch < 1:
            raise ConfigError(f"webhook destination {name!r}: max_batch must be at least 1")
        self.name = name
        self.max_batch = max_batch
        self._url = url
        self._secret = secret
        self._client = client

    async def apply(self, changes: Sequence[Change]) -> BatchResult:
        """Send the changes in order, one request each.

        A retryable failure before anything was sent, or any failure of a lone change, is raised
        for the whole call. Otherwise a retryable failure stops the run (the receiver is
        struggling) and marks the rest retryable, while a permanent one marks only that change.
        """
        return await apply_in_order(changes, self._send, lone_permanent_raises=True)

    async def _send(self, change: Change) -> None:
        body = message_body(change)
        headers = {
            "content-type": "application/json",
            "user-agent": "inkbridge-webhooks/1",
            **signed_headers(
                self._secret, message_id(change.idempotency_key), int(time.time()), body
            ),
        }
        if change.correlation_id:
            headers[CORRELATION_HEADER] = change.correlation_id
        response = await send(
            self._client, self.name, "POST", self._url, content=body, headers=headers
        )
        # 410 Gone falls under "any other 4xx": the receiver unsubscribed, retrying cannot help.
        raise_for_answer(self.name, response)
