"""DocuSign Connect (JSON SIM): the inbound webhook adapter.

Verification: one ``X-DocuSign-Signature-N`` header per active Connect key, each the base64
HMAC-SHA256 of the raw body. No timestamp is signed, so replays are absorbed by deduplication on
(envelopeId, event, recipientId, generatedDateTime); ``retryCount`` grows on redelivery and is
deliberately left out of the key. Expiry has no event of its own: it arrives as
``envelope-voided`` with the voided reason "Envelope has expired.".
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.errors import MalformedPayload, SignatureInvalid
from inkbridge.providers._common import (
    SecretsAdapter,
    any_secret_matches,
    composite_key,
    hmac_sha256,
    inkbridge_metadata,
    load_json_object,
    object_at,
    parse_time,
    text_or_none,
)
from inkbridge.providers.base import InboundRequest

SIGNATURE_HEADER_PREFIX = "x-docusign-signature-"
# DocuSign allows up to 100 active Connect keys, hence up to 100 signature headers.
MAX_SIGNATURE_HEADERS = 100
EXPIRED_VOID_REASON = "envelope has expired."

EVENTS: dict[str, EventType] = {
    "envelope-sent": EventType.DOCUMENT_SENT,
    "envelope-delivered": EventType.DOCUMENT_VIEWED,
    "recipient-delivered": EventType.DOCUMENT_VIEWED,
    "recipient-completed": EventType.RECIPIENT_SIGNED,
    "envelope-completed": EventType.DOCUMENT_COMPLETED,
    "envelope-declined": EventType.DOCUMENT_DECLINED,
    "recipient-declined": EventType.DOCUMENT_DECLINED,
    "envelope-voided": EventType.DOCUMENT_VOIDED,  # or DOCUMENT_EXPIRED, see _event_type
    "recipient-autoresponded": EventType.DOCUMENT_DELIVERY_FAILED,
}

# Every recipient list of envelopeSummary.recipients that carries recipientId and email.
RECIPIENT_GROUPS = (
    "signers",
    "carbonCopies",
    "certifiedDeliveries",
    "agents",
    "editors",
    "intermediaries",
    "inPersonSigners",
    "witnesses",
    "seals",
)


def _event_type(vendor_event: str, summary: dict[str, Any]) -> EventType | None:
    event_type = EVENTS.get(vendor_event)
    if event_type is EventType.DOCUMENT_VOIDED:
        reason = summary.get("voidedReason")
        if isinstance(reason, str) and reason.strip().lower() == EXPIRED_VOID_REASON:
            return EventType.DOCUMENT_EXPIRED
    return event_type


def _recipient_email(summary: dict[str, Any], recipient_id: str) -> str | None:
    groups = object_at(summary, "recipients")
    for group in RECIPIENT_GROUPS:
        members = groups.get(group)
        if not isinstance(members, list):
            continue
        for member in members:
            if isinstance(member, dict) and text_or_none(member.get("recipientId")) == recipient_id:
                return text_or_none(member.get("email")) or text_or_none(member.get("signerEmail"))
    return None


def _occurred_at(payload: dict[str, Any], summary: dict[str, Any], received: datetime) -> datetime:
    # generatedDateTime is when Connect built the message for this event; it stays put on retries.
    if payload.get("generatedDateTime"):
        return parse_time(payload["generatedDateTime"], "generatedDateTime")
    return parse_time(
        summary.get("statusChangedDateTime"), "envelopeSummary.statusChangedDateTime", received
    )


def custom_fields(summary: dict[str, Any]) -> dict[str, str]:
    """inkbridge's ids from an envelope's text custom fields (a Connect envelope summary or an
    envelope read from the API: both carry ``customFields`` alike)."""
    fields = object_at(summary, "customFields").get("textCustomFields")
    if not isinstance(fields, list):
        return {}
    pairs = {
        field["name"]: field.get("value")
        for field in fields
        if isinstance(field, dict) and isinstance(field.get("name"), str)
    }
    return inkbridge_metadata(pairs)


class DocuSignConnectAdapter(SecretsAdapter):
    """Inbound adapter for DocuSign Connect JSON SIM messages. Acknowledged with the default
    200: any 2xx acknowledges a Connect delivery (with "Require Acknowledgement" on)."""

    provider = "docusign"
    content_types = frozenset({"application/json"})
    secret_headers = frozenset(
        f"{SIGNATURE_HEADER_PREFIX}{n}" for n in range(1, MAX_SIGNATURE_HEADERS + 1)
    )

    def verify(self, request: InboundRequest) -> None:
        offered = [
            value.strip().encode()
            for name, value in request.headers.items()
            if name in self.secret_headers and value.strip()
        ]
        if not offered:
            raise SignatureInvalid("no X-DocuSign-Signature header")

        def expected(key: str) -> bytes:
            return base64.b64encode(hmac_sha256(key, request.body))

        if not any_secret_matches(self._secrets, expected, offered):
            raise SignatureInvalid("no signature matched")

    def dedup_key(self, request: InboundRequest) -> str:
        payload = load_json_object(request.body)
        data = object_at(payload, "data")
        envelope_id = text_or_none(data.get("envelopeId"))
        event = text_or_none(payload.get("event"))
        if envelope_id is None or event is None:
            raise MalformedPayload("body must carry 'event' and 'data.envelopeId'")
        return composite_key(
            [
                envelope_id,
                event,
                text_or_none(data.get("recipientId")) or "",
                text_or_none(payload.get("generatedDateTime")) or "",
            ]
        )

    def parse(self, request: InboundRequest) -> list[NormalizedEvent]:
        payload = load_json_object(request.body)
        vendor_event = str(payload.get("event", ""))
        data = object_at(payload, "data")
        summary = object_at(data, "envelopeSummary")
        event_type = _event_type(vendor_event, summary)
        if event_type is None:
            return []  # unknown or untracked event types are stored and ignored, not rejected
        envelope_id = text_or_none(data.get("envelopeId")) or text_or_none(
            summary.get("envelopeId")
        )
        if envelope_id is None:
            raise MalformedPayload("data.envelopeId is required")
        recipient_id = text_or_none(data.get("recipientId"))
        return [
            NormalizedEvent(
                type=event_type,
                provider=self.provider,
                provider_envelope_id=envelope_id,
                occurred_at=_occurred_at(payload, summary, request.received_at),
                recipient_id=recipient_id,
                recipient_email=_recipient_email(summary, recipient_id) if recipient_id else None,
                vendor_event=vendor_event,
                metadata=custom_fields(summary),
            )
        ]
