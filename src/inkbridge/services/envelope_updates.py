"""Applying one normalized event to its envelope: decide (domain), then persist the new snapshot
as a compare-and-set, the recipients and the event log entry. The domain events the decision
raised come back as facts for the unit of work; their side effects are the handlers' business."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from prometheus_client import Counter
from sqlalchemy import Connection, Row

from inkbridge.domain.decision import awaits_confirmation, decide
from inkbridge.domain.events import NormalizedEvent
from inkbridge.domain.lifecycle import EnvelopeSnapshot, Outcome
from inkbridge.errors import DeliveryIgnored, MalformedPayload
from inkbridge.metrics import REGISTRY
from inkbridge.providers.base import EventSource
from inkbridge.providers.registry import ConnectionBinding
from inkbridge.services.envelope_tracking import (
    ConcurrentUpdate,
    as_known_recipient,
    resolve_envelope,
)
from inkbridge.services.routing import lead_payload
from inkbridge.services.unit_of_work import EnvelopeFact
from inkbridge.store import envelopes as envelope_store
from inkbridge.store import event_log
from inkbridge.store.receipts import ReceiptRecord

EVENTS_APPLIED = Counter(
    "inkbridge_events_applied_total",
    "Normalized events applied to envelopes, by outcome.",
    ["outcome"],
    registry=REGISTRY,
)
UNCONFIRMED = "unconfirmed"


@dataclass(frozen=True)
class EnvelopeUpdate:
    """What one event did: its outcome, the envelope's correlation id and the facts it raised."""

    outcome: Outcome | str
    correlation_id: str
    facts: tuple[EnvelopeFact, ...] = ()
    lead_id: str | None = None  # the envelope's lead: the receipt is linked to it


class Parsed(NamedTuple):
    """What a receipt's event source made of it: its events, or why it has none (the binding
    and source are None when its connection is unknown)."""

    binding: ConnectionBinding | None
    source: EventSource | None
    events: list[NormalizedEvent] | DeliveryIgnored | MalformedPayload


def read_ahead(conn: Connection, batch: Iterable[tuple[ReceiptRecord, Parsed]]) -> None:
    """Read the envelopes (and their recipients) a batch's events are about, in one statement
    each, into the transaction's memo (an envelope not tracked yet is read when it is)."""
    envelope_store.read_ahead(
        conn,
        (
            (receipt.connection, event.provider_envelope_id)
            for receipt, parsed in batch
            if isinstance(parsed.events, list)
            for event in parsed.events
        ),
    )


def update_envelope(
    conn: Connection,
    receipt: ReceiptRecord,
    index: int,
    event: NormalizedEvent,
    *,
    provider: str,
    source: EventSource,
    now: datetime,
) -> EnvelopeUpdate:
    envelope = resolve_envelope(conn, receipt, provider, event, now)
    recipient_rows = envelope_store.recipient_rows(conn, envelope.id)
    event = as_known_recipient(event, recipient_rows)
    snapshot = envelope_store.snapshot_of(envelope, recipient_rows)
    correlation_id = envelope.correlation_id
    confirm = source.terminal_needs_confirmation and not source.authoritative
    if awaits_confirmation(snapshot, event, confirm_terminal=confirm):
        # The vendor's signature does not cover the body: hold the terminal claim until the
        # provider's API confirms it (the reconciler picks flagged envelopes up promptly).
        _log_event(conn, receipt, index, event, envelope, UNCONFIRMED, snapshot, snapshot)
        if not envelope_store.save_snapshot(
            conn, snapshot, current=envelope, now=now, needs_reconcile=True
        ):
            raise ConcurrentUpdate()
        return EnvelopeUpdate(UNCONFIRMED, correlation_id, lead_id=envelope.lead_id)
    applied = decide(snapshot, event, authoritative=source.authoritative)
    _log_event(
        conn, receipt, index, event, envelope, applied.outcome.value, snapshot, applied.snapshot
    )
    EVENTS_APPLIED.labels(applied.outcome.value).inc()
    reconcile_flag: bool | None = None
    if applied.outcome is Outcome.CONFLICT:
        reconcile_flag = True
    elif source.authoritative and envelope.needs_reconcile:
        reconcile_flag = False
    if applied.snapshot != snapshot or reconcile_flag is not None:
        if not envelope_store.save_snapshot(
            conn, applied.snapshot, current=envelope, now=now, needs_reconcile=reconcile_flag
        ):
            raise ConcurrentUpdate()
        for recipient_id, status in applied.snapshot.recipients.items():
            if snapshot.recipients.get(recipient_id) != status:
                email = event.recipient_email if recipient_id == event.recipient_id else None
                envelope_store.upsert_recipient(conn, envelope, recipient_id, status, now, email)
    if not applied.events:
        return EnvelopeUpdate(applied.outcome, correlation_id, lead_id=envelope.lead_id)
    lead = lead_payload(conn, envelope.lead_id)
    attribution = envelope_store.attribution_of(conn, envelope)
    facts = tuple(
        EnvelopeFact(
            event=domain_event,
            region=receipt.region,
            envelope=envelope,
            snapshot=applied.snapshot,
            lead=lead,
            receipt_id=receipt.id,
            correlation_id=correlation_id,
            now=now,
            attribution=attribution,
        )
        for domain_event in applied.events
    )
    return EnvelopeUpdate(applied.outcome, correlation_id, facts, envelope.lead_id)


def _log_event(
    conn: Connection,
    receipt: ReceiptRecord,
    index: int,
    event: NormalizedEvent,
    envelope: Row[Any],
    outcome: str,
    before: EnvelopeSnapshot,
    after: EnvelopeSnapshot,
) -> None:
    event_log.append(
        conn,
        region=receipt.region,
        envelope_id=envelope.id,
        receipt_id=receipt.id,
        event_index=index,
        event=event,
        received_at=receipt.received_at,
        outcome=outcome,
        from_state=before.state.value,
        to_state=after.state.value,
        correlation_id=envelope.correlation_id or receipt.correlation_id,
    )
