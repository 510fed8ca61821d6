"""Which envelope a normalized event is about: one inkbridge created (by the vendor's reference
or the id it echoed back), or one sent by hand, tracked from its first event and linked to the
lead with the recipient's email. Also which known recipient an event names."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row

from inkbridge.domain.events import NormalizedEvent
from inkbridge.errors import InkbridgeError
from inkbridge.ids import new_id
from inkbridge.store import audit, data_keys, sealed_fields
from inkbridge.store import envelopes as envelope_store
from inkbridge.store import leads as lead_store
from inkbridge.store.receipts import ReceiptRecord

META_ENVELOPE = "inkbridge_envelope_id"
META_LEAD = "inkbridge_lead_id"
META_CORRELATION = "inkbridge_correlation_id"


class ConcurrentUpdate(InkbridgeError):
    """Another worker changed the envelope first; the receipt is retried."""


def resolve_envelope(
    conn: Connection,
    receipt: ReceiptRecord,
    provider: str,
    event: NormalizedEvent,
    now: datetime,
) -> Row[Any]:
    """The envelope an event belongs to; an envelope inkbridge did not create is tracked too."""
    row = envelope_store.find_by_provider_ref(conn, receipt.connection, event.provider_envelope_id)
    if row is not None:
        return row
    own_id = event.metadata.get(META_ENVELOPE)
    if own_id:
        candidate = envelope_store.get(conn, own_id)
        if candidate is not None and candidate.connection == receipt.connection:
            if candidate.provider_envelope_id is None:
                envelope_store.set_provider_ref(conn, own_id, event.provider_envelope_id)
            refreshed = envelope_store.get(conn, own_id)
            assert refreshed is not None
            return refreshed
    lead_id = event.metadata.get(META_LEAD)
    lead = None
    if lead_id:
        lead = lead_store.find(conn, lead_id)
    if lead is None and event.recipient_email:
        # Sent by hand or by another integration: link it to the newest lead with that email
        # (through the region's blind index: emails are stored sealed).
        lead = lead_store.latest_by_email(conn, event.recipient_email)
    envelope_id = new_id("env")
    if lead is None:
        # A fresh id: its personal data (its own until a lead claims it) has no key yet.
        data_keys.new_subject(conn, sealed_fields.envelope_subject(envelope_id, None))
    inserted = envelope_store.insert_tracked(
        conn,
        {
            "id": envelope_id,
            "region": receipt.region,
            "lead_id": lead["id"] if lead is not None else None,
            "lead_created_at": lead["created_at"] if lead is not None else None,
            "connection": receipt.connection,
            "provider": provider,
            "provider_envelope_id": event.provider_envelope_id,
            "template_key": None,
            "template_version": None,
            "correlation_id": lead["correlation_id"] if lead is not None else new_id("cor"),
            "state": "created",
            "delivery_failed": False,
            "conflicts": [],
            "milestones": {},
            "attribution": dict(lead["first_touch"] or {}) if lead is not None else {},
            "metadata": dict(event.metadata),
            "linked": lead is not None,
            "needs_reconcile": False,
            "version": 0,
            "created_at": now,
            "updated_at": now,
        },
    )
    if inserted is None:
        # Another worker tracked it first (its insert committed while ours waited): use theirs.
        raced = envelope_store.find_by_provider_ref(
            conn, receipt.connection, event.provider_envelope_id
        )
        if raced is None:
            raise ConcurrentUpdate()
        return raced
    audit.record(
        conn,
        region=receipt.region,
        actor="worker",
        action="webhook:envelope:tracked",
        subject_id=envelope_id,
        correlation_id=None,
        details={"connection": receipt.connection, "linked": lead is not None},
    )
    return inserted


def as_known_recipient(
    event: NormalizedEvent, rows: list[envelope_store.RecipientRow]
) -> NormalizedEvent:
    """The event about the recipient inkbridge already knows, when the vendor names it otherwise.

    inkbridge gives the signer of an envelope it creates the id ``1``; a vendor may name the same
    person its own way (a DocuSign server template's recipient ids, Dropbox Sign's
    ``signature_id``). An id the envelope has never seen, whose email is that of exactly one
    known recipient under another id, is that recipient. The event is logged as rewritten, so
    a replay of the event log arrives at the same recipients."""
    if event.recipient_id is None or not event.recipient_email:
        return event
    if any(row.recipient_id == event.recipient_id for row in rows):
        return event
    email = event.recipient_email.strip().lower()
    same = [row.recipient_id for row in rows if (row.email or "").strip().lower() == email]
    return replace(event, recipient_id=same[0]) if len(same) == 1 else event
