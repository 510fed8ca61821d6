"""Processing receipts: normalize, apply the lifecycle, and write envelope state, event log,
audit entry and outbox rows in one transaction. The state machine is the only writer of state."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from prometheus_client import Counter
from sqlalchemy import Connection, Row, select
from sqlalchemy.exc import IntegrityError

from inkbridge.bootstrap import Container
from inkbridge.domain.delivery_policy import RECEIPT_RETRY
from inkbridge.domain.events import DomainEvent, NormalizedEvent
from inkbridge.domain.lifecycle import (
    Applied,
    EnvelopeSnapshot,
    Outcome,
    apply_event,
    resolve_terminal,
    terminal_state_of,
)
from inkbridge.domain.queue_states import ReceiptStatus
from inkbridge.errors import InkbridgeError, MalformedPayload, redacted_error
from inkbridge.ids import hash_identifier, new_id
from inkbridge.metrics import REGISTRY
from inkbridge.providers.base import InboundRequest
from inkbridge.services.journeys import record_signing_consent, run_journeys
from inkbridge.services.reconcile import decode_report
from inkbridge.services.routing import enqueue_for, lead_payload
from inkbridge.store import audit, event_log, receipts
from inkbridge.store import envelopes as envelope_store
from inkbridge.store.database import RegionDatabase
from inkbridge.store.receipts import ReceiptRecord
from inkbridge.store.schema import leads

log = structlog.get_logger("inkbridge.processing")

EVENTS_APPLIED = Counter(
    "inkbridge_events_applied_total",
    "Normalized events applied to envelopes, by outcome.",
    ["outcome"],
    registry=REGISTRY,
)
RECEIPTS_PROCESSED = Counter(
    "inkbridge_receipts_processed_total",
    "Receipts settled by the worker, by status.",
    ["status"],
    registry=REGISTRY,
)
MAX_RECEIPT_ATTEMPTS = RECEIPT_RETRY.max_attempts
META_ENVELOPE = "inkbridge_envelope_id"
META_LEAD = "inkbridge_lead_id"
META_CORRELATION = "inkbridge_correlation_id"


class ConcurrentUpdate(InkbridgeError):
    """Another worker changed the envelope first; the receipt is retried."""


@dataclass(frozen=True)
class ProcessResult:
    receipt_id: int
    status: str
    events: int = 0
    accepted: int = 0


def _request_of(receipt: ReceiptRecord) -> InboundRequest:
    return InboundRequest(
        connection=receipt.connection,
        method="POST",
        headers=receipt.headers,
        query={},
        body=receipt.body,
        received_at=receipt.received_at,
    )


def _resolve_envelope(
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
        lead = conn.execute(select(leads).where(leads.c.id == lead_id)).first()
    if lead is None and event.recipient_email:
        # Sent by hand or by another integration: link it to the newest lead with that email.
        lead = conn.execute(
            select(leads)
            .where(leads.c.email_hash == hash_identifier(event.recipient_email))
            .order_by(leads.c.created_at.desc())
            .limit(1)
        ).first()
    envelope_id = new_id("env")
    inserted = envelope_store.insert_tracked(
        conn,
        {
            "id": envelope_id,
            "region": receipt.region,
            "lead_id": lead.id if lead is not None else None,
            "lead_created_at": lead.created_at if lead is not None else None,
            "connection": receipt.connection,
            "provider": provider,
            "provider_envelope_id": event.provider_envelope_id,
            "template_key": None,
            "template_version": None,
            "correlation_id": lead.correlation_id if lead is not None else new_id("cor"),
            "state": "created",
            "delivery_failed": False,
            "conflicts": [],
            "milestones": {},
            "attribution": dict(lead.first_touch) if lead is not None else {},
            "metadata": dict(event.metadata),
            "linked": lead is not None,
            "needs_reconcile": False,
            "version": 0,
            "created_at": now,
            "updated_at": now,
        },
    )
    if not inserted:
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
    found = envelope_store.get(conn, envelope_id)
    assert found is not None
    return found


def outbound_payload(
    envelope: Row[Any],
    document_url: str,
    snapshot_state: str,
    milestones: dict[str, str],
    delivery_failed: bool,
    event: DomainEvent,
    lead: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "event": {
            "kind": event.kind,
            "fact_key": event.fact_key,
            "occurred_at": event.occurred_at.isoformat(),
            **event.data,
        },
        "envelope": {
            "id": envelope.id,
            "state": snapshot_state,
            "provider": envelope.provider,
            "provider_envelope_id": envelope.provider_envelope_id,
            "template_key": envelope.template_key,
            "template_version": envelope.template_version,
            "milestones": milestones,
            "delivery_failed": delivery_failed,
            "lead_id": envelope.lead_id,
            "document_url": document_url,
        },
        "lead": lead,
        "attribution": dict(envelope.attribution or {}),
        "correlation_id": envelope.correlation_id,
    }


def _decide(snapshot: EnvelopeSnapshot, event: NormalizedEvent, authoritative: bool) -> Applied:
    """Apply one event; a provider status report (authoritative) also settles the terminal."""
    applied = apply_event(snapshot, event)
    terminal = terminal_state_of(event.type)
    if not authoritative or terminal is None:
        return applied
    settled = resolve_terminal(applied.snapshot, terminal, event.occurred_at)
    kept = tuple(e for e in applied.events if e.kind != "envelope.conflict_detected")
    events = kept + settled.events if settled.events else applied.events
    moved = settled.snapshot.state != snapshot.state
    outcome = (
        Outcome.ACCEPTED if moved else (settled.outcome if settled.events else applied.outcome)
    )
    return Applied(settled.snapshot, outcome, events, snapshot.state)


def _as_known_recipient(event: NormalizedEvent, rows: list[Row[Any]]) -> NormalizedEvent:
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


def _apply_one(
    conn: Connection,
    container: Container,
    receipt: ReceiptRecord,
    index: int,
    event: NormalizedEvent,
    provider: str,
    now: datetime,
    *,
    authoritative: bool = False,
    confirm_terminal: bool = False,
) -> tuple[Outcome | str, str]:
    envelope = _resolve_envelope(conn, receipt, provider, event, now)
    recipient_rows = envelope_store.recipient_rows(conn, envelope.id)
    event = _as_known_recipient(event, recipient_rows)
    snapshot = envelope_store.snapshot_of(envelope, recipient_rows)
    correlation_id = envelope.correlation_id
    if confirm_terminal and terminal_state_of(event.type) is not None and not snapshot.is_terminal:
        # The vendor's signature does not cover the body: hold the terminal claim until the
        # provider's API confirms it (the reconciler picks flagged envelopes up promptly).
        _log_event(
            conn,
            receipt,
            index,
            event,
            envelope.id,
            "unconfirmed",
            snapshot,
            snapshot,
            correlation_id,
        )
        if not envelope_store.save_snapshot(
            conn,
            snapshot,
            current=envelope,
            now=now,
            needs_reconcile=True,
        ):
            raise ConcurrentUpdate()
        return "unconfirmed", correlation_id
    applied = _decide(snapshot, event, authoritative)
    _log_event(
        conn,
        receipt,
        index,
        event,
        envelope.id,
        applied.outcome.value,
        snapshot,
        applied.snapshot,
        correlation_id,
    )
    EVENTS_APPLIED.labels(applied.outcome.value).inc()
    reconcile_flag: bool | None = None
    if applied.outcome is Outcome.CONFLICT:
        reconcile_flag = True
    elif authoritative and envelope.needs_reconcile:
        reconcile_flag = False
    if applied.snapshot != snapshot or reconcile_flag is not None:
        if not envelope_store.save_snapshot(
            conn,
            applied.snapshot,
            current=envelope,
            now=now,
            needs_reconcile=reconcile_flag,
        ):
            raise ConcurrentUpdate()
        for recipient_id, status in applied.snapshot.recipients.items():
            if snapshot.recipients.get(recipient_id) != status:
                email = event.recipient_email if recipient_id == event.recipient_id else None
                envelope_store.upsert_recipient(conn, envelope.id, recipient_id, status, now, email)
    if not applied.events:
        return applied.outcome, correlation_id
    milestones = {k: v.isoformat() for k, v in sorted(applied.snapshot.milestones.items())}
    lead = lead_payload(conn, envelope.lead_id)
    for domain_event in applied.events:
        audit.record(
            conn,
            region=receipt.region,
            actor="worker",
            action=f"lifecycle:envelope:{domain_event.kind.split('.', 1)[1]}",
            subject_id=envelope.id,
            correlation_id=correlation_id,
            details={"fact": domain_event.fact_key, "receipt_id": receipt.id, **domain_event.data},
        )
        payload = outbound_payload(
            envelope,
            f"{container.settings.server.base_url}/v1/envelopes/{envelope.id}",
            applied.snapshot.state.value,
            milestones,
            applied.snapshot.delivery_failed,
            domain_event,
            lead,
        )
        enqueue_for(
            conn,
            container.destinations,
            kind=domain_event.kind,
            region=receipt.region,
            record_key=f"envelope:{envelope.id}",
            fact_key=domain_event.fact_key,
            payload=payload,
            correlation_id=correlation_id,
            now=now,
        )
        if domain_event.kind == "envelope.state_changed" and lead is not None:
            run_journeys(
                conn,
                container,
                region=receipt.region,
                envelope_id=envelope.id,
                to_state=str(domain_event.data["to"]),
                lead=lead,
                payload=payload,
                correlation_id=correlation_id,
                now=now,
            )
            if domain_event.data["to"] == "completed":
                record_signing_consent(conn, container, envelope, lead["id"], now)
    return applied.outcome, correlation_id


def _log_event(
    conn: Connection,
    receipt: ReceiptRecord,
    index: int,
    event: NormalizedEvent,
    envelope_id: str,
    outcome: str,
    before: EnvelopeSnapshot,
    after: EnvelopeSnapshot,
    correlation_id: str | None = None,
) -> None:
    event_log.append(
        conn,
        region=receipt.region,
        envelope_id=envelope_id,
        receipt_id=receipt.id,
        event_index=index,
        event=event,
        received_at=receipt.received_at,
        outcome=outcome,
        from_state=before.state.value,
        to_state=after.state.value,
        correlation_id=correlation_id or receipt.correlation_id,
    )


def process_receipt(
    container: Container, db: RegionDatabase, receipt: ReceiptRecord
) -> ProcessResult:
    """Process one claimed receipt in its own transaction; safe to run again after a crash."""
    with db.transaction() as conn:
        return process_receipt_in(container, conn, receipt)


def process_receipt_in(
    container: Container, conn: Connection, receipt: ReceiptRecord
) -> ProcessResult:
    """Process one receipt inside the caller's transaction, in a savepoint of its own: a
    receipt that fails rolls back alone and is retried; the others commit."""
    binding = container.bindings.get(receipt.connection)
    now = datetime.now(UTC)
    if binding is None:
        receipts.settle(
            conn, receipt.id, status=ReceiptStatus.FAILED, now=now, error="unknown connection"
        )
        RECEIPTS_PROCESSED.labels("failed").inc()
        return ProcessResult(receipt.id, "failed")
    authoritative = receipt.source == "reconcile"
    confirm = bool(getattr(binding.adapter, "terminal_needs_confirmation", False))
    try:
        if authoritative:
            events = decode_report(receipt.body)
        else:
            events = binding.adapter.parse(_request_of(receipt))
    except MalformedPayload as exc:
        receipts.settle(conn, receipt.id, status=ReceiptStatus.FAILED, now=now, error=str(exc))
        RECEIPTS_PROCESSED.labels("failed").inc()
        log.warning("receipt_unreadable", receipt_id=receipt.id, reason=str(exc))
        return ProcessResult(receipt.id, "failed")
    if not events:
        receipts.settle(conn, receipt.id, status=ReceiptStatus.IGNORED, now=now)
        RECEIPTS_PROCESSED.labels("ignored").inc()
        return ProcessResult(receipt.id, "ignored")
    accepted = 0
    correlation_id = None
    try:
        with conn.begin_nested():
            for index, event in enumerate(events):
                outcome, correlation_id = _apply_one(
                    conn,
                    container,
                    receipt,
                    index,
                    event,
                    binding.provider,
                    now,
                    authoritative=authoritative,
                    confirm_terminal=confirm and not authoritative,
                )
                accepted += outcome is Outcome.ACCEPTED
            receipts.settle(
                conn, receipt.id, status=ReceiptStatus.DONE, now=now, correlation_id=correlation_id
            )
    except (ConcurrentUpdate, IntegrityError) as exc:
        # Another worker changed the same envelope first: try again in a moment.
        receipts.release(
            conn,
            receipt.id,
            error=f"concurrent update: {type(exc).__name__}",
            retry_at=now + timedelta(seconds=0.05),
        )
        return ProcessResult(receipt.id, "retry")
    except Exception as exc:
        # Never lose a receipt to a bug: retry with backoff, then park it as failed (visible,
        # replayable) instead of blocking the inbox.
        # The error is redacted in the column and the log alike: an exception's message may
        # quote payload values (see errors.redacted_error).
        failed = RECEIPT_RETRY.gives_up(receipt.attempts)
        error = redacted_error(exc)
        if failed:
            receipts.settle(conn, receipt.id, status=ReceiptStatus.FAILED, now=now, error=error)
        else:
            delay = RECEIPT_RETRY.delay(receipt.attempts)
            receipts.release(conn, receipt.id, error=error, retry_at=now + timedelta(seconds=delay))
        log.error("receipt_processing_error", receipt_id=receipt.id, parked=failed, error=error)
        return ProcessResult(receipt.id, "failed" if failed else "retry")
    RECEIPTS_PROCESSED.labels("done").inc()
    log.info(
        "receipt_processed",
        receipt_id=receipt.id,
        connection=receipt.connection,
        events=len(events),
        accepted=accepted,
        correlation_id=correlation_id,
    )
    return ProcessResult(receipt.id, "done", events=len(events), accepted=accepted)


# On SQLite, receipts claimed at a time within one processing transaction.
SQLITE_CLAIM_CHUNK = 4


def process_pending(container: Container, db: RegionDatabase, limit: int = 50) -> int:
    """Claim and process up to ``limit`` receipts of one region; returns how many were claimed.

    On SQLite (one writer anyway) the batch is one transaction: one commit, one fsync; it stops
    taking receipts once it has run ``worker.sqlite_transaction_seconds``. Should the process die
    midway, the whole batch rolls back, claims included, and runs again."""
    settings = container.settings.worker
    if not db.is_sqlite:
        # On PostgreSQL many workers run at once: short transactions, one per receipt, so a
        # worker never holds the audit chain head or an envelope row while it works on others.
        with db.transaction() as conn:
            claimed = receipts.claim(
                conn, limit=limit, lease_seconds=settings.lease_seconds, now=datetime.now(UTC)
            )
        for receipt in claimed:
            process_receipt(container, db, receipt)
        return len(claimed)
    # Claimed a few at a time while the transaction is young: it holds SQLite's one write lock,
    # which the webhook receipt writer of this process waits for.
    deadline = time.monotonic() + settings.sqlite_transaction_seconds
    done = 0
    with db.transaction() as conn:
        while done < limit:
            chunk = min(SQLITE_CLAIM_CHUNK, limit - done)
            claimed = receipts.claim(
                conn, limit=chunk, lease_seconds=settings.lease_seconds, now=datetime.now(UTC)
            )
            for receipt in claimed:
                process_receipt_in(container, conn, receipt)
            done += len(claimed)
            if len(claimed) < chunk or time.monotonic() >= deadline:
                break
    return done
