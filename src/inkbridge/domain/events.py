"""Normalized provider events and the domain events that accepted changes emit."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    """What happened at the provider, in inkbridge's vocabulary (see vendor/NOTES table)."""

    DOCUMENT_SENT = "document_sent"
    DOCUMENT_VIEWED = "document_viewed"
    RECIPIENT_SIGNED = "recipient_signed"
    DOCUMENT_COMPLETED = "document_completed"
    DOCUMENT_DECLINED = "document_declined"
    DOCUMENT_VOIDED = "document_voided"
    DOCUMENT_EXPIRED = "document_expired"
    DOCUMENT_DELIVERY_FAILED = "document_delivery_failed"
    REMINDER_SENT = "reminder_sent"


# The short names a sender mapping may use for each type, besides the full ones: the full name
# without the subject it is about (``sent`` for ``document_sent``, ``signed`` for
# ``recipient_signed``; ``reminder_sent`` names no subject and stays as it is).
SHORT_NAMES: dict[str, EventType] = {
    kind.value.removeprefix("document_").removeprefix("recipient_"): kind for kind in EventType
}


def event_type_named(name: str) -> EventType | None:
    """The event type ``name`` stands for (short or full name), or None."""
    found = SHORT_NAMES.get(name)
    if found is not None:
        return found
    try:
        return EventType(name)
    except ValueError:
        return None


@dataclass(frozen=True)
class NormalizedEvent:
    """One provider event, stripped of vendor shape.

    ``metadata`` carries what inkbridge put into the provider's custom-field slot
    (envelope id, lead id, correlation id) when the provider echoes it back.
    """

    type: EventType
    provider: str
    provider_envelope_id: str
    occurred_at: datetime
    recipient_id: str | None = None
    recipient_email: str | None = None
    vendor_event: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DomainEvent:
    """A business fact caused by exactly one accepted change.

    ``fact_key`` names the fact (``envelope:{id}:state:completed``); outbox rows are unique on
    (destination, fact_key), so a fact reaches each destination at most once.
    """

    kind: str
    envelope_id: str
    fact_key: str
    occurred_at: datetime
    data: dict[str, Any] = field(default_factory=dict)
