"""The generic connection kind that speaks inkbridge's normalized event format over Standard
Webhooks (the sandbox provider sends it too); signing and verification live in
``inkbridge.vendor_http.signing`` and are re-exported here for existing importers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.errors import MalformedPayload
from inkbridge.providers._common import load_json_object
from inkbridge.providers.base import Acknowledgement, InboundRequest, WebhookAdapter
from inkbridge.vendor_http.signing import (
    SECRET_PREFIX,
    secret_key,
    sign,
    signed_headers,
    usable_keys,
    verify,
    verify_with_keys,
)

__all__ = [
    "SECRET_PREFIX",
    "StandardWebhooksAdapter",
    "secret_key",
    "sign",
    "signed_headers",
    "usable_keys",
    "verify",
    "verify_with_keys",
]


# The normalized wire format: {"type": "...", "timestamp": iso, "data": {...}}.
_TYPES = {t.value: t for t in EventType}


def _parse_time(value: Any, field: str) -> datetime:
    if not isinstance(value, str):
        raise MalformedPayload(f"{field} must be an ISO-8601 string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedPayload(f"{field} is not an ISO-8601 time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# The same for every delivery, so built once (it is immutable).
_ACKNOWLEDGEMENT = Acknowledgement(status=200, body=b'{"ok":true}', media_type="application/json")


class StandardWebhooksAdapter(WebhookAdapter):
    """Inbound adapter for senders that follow Standard Webhooks and inkbridge's event format."""

    content_types = frozenset({"application/json"})
    secret_headers = frozenset({"webhook-signature", "authorization"})

    def __init__(
        self, secrets: Sequence[SecretStr], tolerance_seconds: int = 300, provider: str = "sandbox"
    ) -> None:
        self.provider = provider
        # Decoded once: every delivery is checked against each key.
        self._keys = usable_keys(secrets)
        self._tolerance = tolerance_seconds

    def verify(self, request: InboundRequest) -> None:
        verify_with_keys(
            self._keys, request.headers, request.body, request.received_at, self._tolerance
        )

    def dedup_key(self, request: InboundRequest) -> str:
        msg_id = request.headers.get("webhook-id", "")
        if not msg_id or len(msg_id) > 200:
            raise MalformedPayload("webhook-id must be 1 to 200 characters")
        payload = load_json_object(request.body)
        data = payload.get("data")
        if not isinstance(payload.get("type"), str) or not isinstance(data, dict):
            raise MalformedPayload("body must carry 'type' and a 'data' object")
        return msg_id

    def acknowledge(self, request: InboundRequest) -> Acknowledgement:
        return _ACKNOWLEDGEMENT

    def parse(self, request: InboundRequest) -> list[NormalizedEvent]:
        payload = load_json_object(request.body)
        data = payload.get("data")
        if not isinstance(data, dict):
            raise MalformedPayload("'data' must be an object")
        event_type = _TYPES.get(str(payload.get("type", "")))
        if event_type is None:
            return []  # unknown event types are stored and ignored, not rejected
        envelope_ref = data.get("envelope_id")
        if not isinstance(envelope_ref, str) or not envelope_ref:
            raise MalformedPayload("data.envelope_id is required")
        recipient = data.get("recipient_id")
        metadata = data.get("metadata") or {}
        if not isinstance(metadata, dict):
            raise MalformedPayload("data.metadata must be an object")
        return [
            NormalizedEvent(
                type=event_type,
                provider=self.provider,
                provider_envelope_id=envelope_ref,
                occurred_at=_parse_time(data.get("occurred_at"), "data.occurred_at"),
                recipient_id=str(recipient) if recipient is not None else None,
                recipient_email=data.get("recipient_email"),
                vendor_event=str(payload["type"]),
                metadata={str(k): str(v) for k, v in metadata.items()},
            )
        ]
