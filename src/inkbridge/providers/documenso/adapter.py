"""Documenso: the inbound webhook adapter.

Documenso does not sign its webhooks: ``X-Documenso-Secret`` carries the configured secret in
plain text, compared here in constant time. The body is ``{event, payload, createdAt,
webhookEndpoint}``; the top-level ``createdAt`` is recomputed on every attempt, so it never enters
the dedup key. Newer builds send a stable ``X-Documenso-Delivery-Id``, preferred when present;
otherwise the key is (event, payload.envelopeId or id, acting recipient id, payload.updatedAt).

Documenso sends the whole document with all its recipients and does not say which recipient
acted, so the acting recipient is inferred from recipient statuses (see ``_acting_recipient``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.errors import MalformedPayload, SignatureInvalid
from inkbridge.providers._common import (
    META_ENVELOPE,
    SecretsAdapter,
    any_secret_matches,
    bounded_key,
    composite_key,
    load_json_object,
    object_at,
    parse_time,
    text_or_none,
)
from inkbridge.providers.base import InboundRequest

SECRET_HEADER = "x-documenso-secret"  # noqa: S105 - a header name, not a secret
DELIVERY_ID_HEADER = "x-documenso-delivery-id"

EVENTS: dict[str, EventType] = {
    "DOCUMENT_SENT": EventType.DOCUMENT_SENT,
    "DOCUMENT_OPENED": EventType.DOCUMENT_VIEWED,
    "DOCUMENT_SIGNED": EventType.RECIPIENT_SIGNED,
    "DOCUMENT_RECIPIENT_COMPLETED": EventType.RECIPIENT_SIGNED,
    "DOCUMENT_COMPLETED": EventType.DOCUMENT_COMPLETED,
    "DOCUMENT_REJECTED": EventType.DOCUMENT_DECLINED,
    "DOCUMENT_CANCELLED": EventType.DOCUMENT_VOIDED,
    "RECIPIENT_EXPIRED": EventType.DOCUMENT_EXPIRED,
    "DOCUMENT_REMINDER_SENT": EventType.REMINDER_SENT,
}

Recipient = dict[str, Any]

# For events about one recipient: how to recognise the recipients that may have acted.
ACTED: dict[str, Callable[[Recipient], bool]] = {
    "DOCUMENT_OPENED": lambda r: r.get("readStatus") == "OPENED",
    "DOCUMENT_SIGNED": lambda r: r.get("signingStatus") == "SIGNED",
    "DOCUMENT_RECIPIENT_COMPLETED": lambda r: r.get("signingStatus") == "SIGNED",
    "DOCUMENT_REJECTED": lambda r: r.get("signingStatus") == "REJECTED",
    "RECIPIENT_EXPIRED": lambda r: bool(r.get("expired") or r.get("expiresAt")),
    "DOCUMENT_REMINDER_SENT": lambda r: r.get("signingStatus") == "NOT_SIGNED",
}
# Events whose acting recipient is the latest to sign (or reject) when several match.
BY_SIGNED_AT = frozenset({"DOCUMENT_SIGNED", "DOCUMENT_RECIPIENT_COMPLETED", "DOCUMENT_REJECTED"})


def _recipients(document: dict[str, Any]) -> list[Recipient]:
    # Current builds send "recipients"; older ones the Prisma relation name "Recipient".
    found = document.get("recipients")
    if not isinstance(found, list):
        found = document.get("Recipient")
    return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []


def _acting_recipient(event: str, document: dict[str, Any]) -> Recipient | None:
    """The recipient a recipient-level event is about, when the payload lets us tell."""
    acted = ACTED.get(event)
    if acted is None:
        return None  # an envelope-level event
    recipients = _recipients(document)
    if len(recipients) == 1:
        return recipients[0]
    candidates = [r for r in recipients if acted(r)]
    if len(candidates) == 1:
        return candidates[0]
    if event in BY_SIGNED_AT:
        dated = [r for r in candidates if r.get("signedAt")]
        if dated:
            return max(dated, key=lambda r: parse_time(r["signedAt"], "recipient.signedAt"))
    return None  # ambiguous: better no recipient than the wrong one


def _occurred_at(
    event: str, document: dict[str, Any], recipient: Recipient | None, received: datetime
) -> datetime:
    if event in BY_SIGNED_AT and recipient is not None and recipient.get("signedAt"):
        return parse_time(recipient["signedAt"], "recipient.signedAt")
    if event == "DOCUMENT_COMPLETED" and document.get("completedAt"):
        return parse_time(document["completedAt"], "payload.completedAt")
    return parse_time(document.get("updatedAt"), "payload.updatedAt", received)


def _envelope_id(document: dict[str, Any]) -> str | None:
    return text_or_none(document.get("envelopeId")) or text_or_none(document.get("id"))


class DocumensoAdapter(SecretsAdapter):
    """Inbound adapter for Documenso document webhooks. Acknowledged with the default 200
    within 10 s: a redirect would count as a failure, so none is ever sent."""

    provider = "documenso"
    content_types = frozenset({"application/json"})
    secret_headers = frozenset({SECRET_HEADER})

    def verify(self, request: InboundRequest) -> None:
        offered = request.headers.get(SECRET_HEADER, "")
        if not offered:
            raise SignatureInvalid("no X-Documenso-Secret header")
        if not any_secret_matches(self._secrets, str.encode, [offered.encode()]):
            raise SignatureInvalid("the secret did not match")

    def dedup_key(self, request: InboundRequest) -> str:
        body = load_json_object(request.body)
        document = object_at(body, "payload")
        event = text_or_none(body.get("event"))
        envelope_id = _envelope_id(document)
        if event is None or envelope_id is None:
            raise MalformedPayload("body must carry 'event' and 'payload.id'")
        delivery_id = request.headers.get(DELIVERY_ID_HEADER, "").strip()
        if delivery_id:
            return bounded_key(delivery_id)
        recipient = _acting_recipient(event, document)
        return composite_key(
            [
                event,
                envelope_id,
                (text_or_none(recipient.get("id")) if recipient else None) or "",
                text_or_none(document.get("updatedAt")) or "",
            ]
        )

    def parse(self, request: InboundRequest) -> list[NormalizedEvent]:
        body = load_json_object(request.body)
        vendor_event = str(body.get("event", ""))
        event_type = EVENTS.get(vendor_event)
        if event_type is None:
            return []  # DOCUMENT_CREATED and unknown events are stored and ignored
        document = object_at(body, "payload")
        envelope_id = _envelope_id(document)
        if envelope_id is None:
            raise MalformedPayload("payload.envelopeId or payload.id is required")
        recipient = _acting_recipient(vendor_event, document)
        external_id = text_or_none(document.get("externalId"))
        return [
            NormalizedEvent(
                type=event_type,
                provider=self.provider,
                provider_envelope_id=envelope_id,
                occurred_at=_occurred_at(vendor_event, document, recipient, request.received_at),
                recipient_id=text_or_none(recipient.get("id")) if recipient else None,
                recipient_email=text_or_none(recipient.get("email")) if recipient else None,
                vendor_event=vendor_event,
                # Documenso's one free slot is externalId, which carries inkbridge's envelope id.
                metadata={META_ENVELOPE: external_id} if external_id else {},
            )
        ]
