"""Standard Webhooks: signing and verification, and the generic connection kind that speaks
inkbridge's normalized event format over it (the sandbox provider signs with it too).

Signed content is ``{id}.{timestamp}.{raw body}``; the HMAC key is the base64-decoded secret
after ``whsec_``. Several secrets may be active at once (rotation); any valid one passes.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.errors import MalformedPayload, SignatureInvalid
from inkbridge.providers._common import load_json_object
from inkbridge.providers.base import Acknowledgement, InboundRequest, WebhookAdapter

SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_…`` secret (base64 after the prefix)."""
    raw = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    try:
        return base64.b64decode(raw, validate=True)
    except ValueError as exc:
        raise ValueError("a Standard Webhooks secret must be base64 after 'whsec_'") from exc


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value (``v1,<base64>``) for one message."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def verify(
    secrets: Sequence[SecretStr],
    headers: dict[str, str] | Any,
    body: bytes,
    now: datetime,
    tolerance_seconds: int = 300,
) -> None:
    """Raise ``SignatureInvalid`` unless one ``v1`` signature matches one of the secrets."""
    verify_with_keys(usable_keys(secrets), headers, body, now, tolerance_seconds)


def usable_keys(secrets: Sequence[SecretStr]) -> list[bytes]:
    """The HMAC keys of ``secrets``; a secret that is not valid base64 matches nothing."""
    keys: list[bytes] = []
    for secret in secrets:
        with contextlib.suppress(ValueError):
            keys.append(secret_key(secret.get_secret_value()))
    return keys


def verify_with_keys(
    keys: Sequence[bytes],
    headers: dict[str, str] | Any,
    body: bytes,
    now: datetime,
    tolerance_seconds: int = 300,
) -> None:
    """``verify`` with the keys already decoded, as the hot path holds them."""
    msg_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    signature_header = headers.get("webhook-signature")
    if not msg_id or not stamp or not signature_header:
        raise SignatureInvalid("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise SignatureInvalid("webhook-timestamp is not an integer") from None
    skew = now.timestamp() - timestamp
    if skew > tolerance_seconds:
        raise SignatureInvalid("webhook-timestamp is too old")
    if skew < -tolerance_seconds:
        raise SignatureInvalid("webhook-timestamp is in the future")
    offered = [
        part.split(",", 1)[1].encode()
        for part in signature_header.split(" ")
        if part.startswith("v1,")
    ]
    if not offered:
        raise SignatureInvalid("no v1 signature offered")
    content = f"{msg_id}.{timestamp}.".encode() + body
    for key in keys:
        expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest())
        # Compare against every offered signature without stopping early on a match.
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return
    raise SignatureInvalid("no signature matched")


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
