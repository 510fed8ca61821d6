"""PandaDoc: the inbound webhook adapter.

Verification: the query parameter ``signature`` is the hex HMAC-SHA256 of the raw body under the
webhook's shared key. The body is a JSON array of ``{event, data}`` notifications, several per
POST, so ``parse`` may return several events. The dedup key is the ``X-PandaDoc-Webhook-Event-Id``
header (stable across retries) when present, else a composite of every notification's
(document id, event, status, date_modified).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.errors import MalformedPayload, SignatureInvalid
from inkbridge.providers._common import (
    SecretsAdapter,
    bounded_key,
    composite_key,
    inkbridge_metadata,
    load_json,
    object_at,
    parse_time,
    text_or_none,
)
from inkbridge.providers.base import InboundRequest

SIGNATURE_PARAM = "signature"
EVENT_ID_HEADER = "x-pandadoc-webhook-event-id"
STATE_CHANGED = "document_state_changed"
RECIPIENT_COMPLETED = "recipient_completed"

# document_state_changed carries the new state in data.status.
STATUSES: dict[str, EventType] = {
    "document.sent": EventType.DOCUMENT_SENT,
    "document.viewed": EventType.DOCUMENT_VIEWED,
    "document.completed": EventType.DOCUMENT_COMPLETED,
    "document.declined": EventType.DOCUMENT_DECLINED,
    "document.cancelled": EventType.DOCUMENT_VOIDED,
    # PandaDoc's status reference: "document.voided" is a document that expired.
    "document.voided": EventType.DOCUMENT_EXPIRED,
}


def _notifications(body: bytes) -> list[dict[str, Any]]:
    value = load_json(body)
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise MalformedPayload("body must be a JSON array of notification objects")
    return value


def _completed_by(data: dict[str, Any]) -> tuple[str | None, str | None]:
    """(recipient id, email) of whoever completed: ``action_by`` matched against recipients."""
    action_by = object_at(data, "action_by")
    email = text_or_none(action_by.get("email"))
    recipients = data.get("recipients")
    if email and isinstance(recipients, list):
        for recipient in recipients:
            if (
                isinstance(recipient, dict)
                and str(recipient.get("email", "")).lower() == email.lower()
            ):
                return text_or_none(recipient.get("id")), email
    return text_or_none(action_by.get("id")), email


class PandaDocAdapter(SecretsAdapter):
    """Inbound adapter for PandaDoc document webhooks. Acknowledged with the default 200;
    never 410, which would deactivate the webhook."""

    provider = "pandadoc"
    content_types = frozenset({"application/json"})
    secret_headers: frozenset[str] = frozenset()  # the signature rides in the query string

    def verify(self, request: InboundRequest) -> None:
        offered = request.query.get(SIGNATURE_PARAM, "").strip()
        if not offered:
            raise SignatureInvalid("no signature query parameter")
        if not self.hex_hmac_matches(request.body, offered):
            raise SignatureInvalid("no signature matched")

    def dedup_key(self, request: InboundRequest) -> str:
        notifications = _notifications(request.body)
        event_id = request.headers.get(EVENT_ID_HEADER, "").strip()
        if event_id:
            return bounded_key(event_id)
        parts: list[list[str]] = []
        for item in notifications:
            data = object_at(item, "data")
            parts.append(
                [
                    text_or_none(data.get("id")) or "",
                    text_or_none(item.get("event")) or "",
                    text_or_none(data.get("status")) or "",
                    text_or_none(data.get("date_modified")) or "",
                ]
            )
        return composite_key(parts)

    def parse(self, request: InboundRequest) -> list[NormalizedEvent]:
        events: list[NormalizedEvent] = []
        for index, item in enumerate(_notifications(request.body)):
            event = self._parse_one(item, index, request.received_at)
            if event is not None:
                events.append(event)
        return events

    def _parse_one(
        self, item: dict[str, Any], index: int, received_at: datetime
    ) -> NormalizedEvent | None:
        vendor_event = str(item.get("event", ""))
        data = object_at(item, "data")
        recipient_id: str | None = None
        email: str | None = None
        when: Any = None
        if vendor_event == STATE_CHANGED:
            event_type = STATUSES.get(str(data.get("status", "")))
            when = data.get("date_modified")
        elif vendor_event == RECIPIENT_COMPLETED:
            event_type = EventType.RECIPIENT_SIGNED
            recipient_id, email = _completed_by(data)
            when = data.get("action_date") or data.get("date_modified")
        else:
            event_type = None
        if event_type is None:
            return None  # unknown events and untracked states are stored and ignored
        document_id = text_or_none(data.get("id"))
        if document_id is None:
            raise MalformedPayload(f"notification {index}: data.id is required")
        return NormalizedEvent(
            type=event_type,
            provider=self.provider,
            provider_envelope_id=document_id,
            occurred_at=parse_time(when, f"notification {index}: date", received_at),
            recipient_id=recipient_id,
            recipient_email=email,
            vendor_event=(
                f"{vendor_event}:{data.get('status')}"
                if vendor_event == STATE_CHANGED
                else vendor_event
            ),
            metadata=inkbridge_metadata(object_at(data, "metadata")),
        )
