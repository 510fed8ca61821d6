"""The trace of one correlation id: campaign → lead → envelope → receipts → transitions →
deliveries, and the signer sessions that authenticated its signers, gathered from the region
that holds it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from inkbridge.errors import NotFound
from inkbridge.services.signer_evidence import signer_evidence
from inkbridge.store import sealed_fields
from inkbridge.store.database import Databases
from inkbridge.store.traces import correlated


def trace(databases: Databases, correlation_id: str) -> dict[str, Any]:
    for db in databases:
        with db.reader() as conn:
            found = correlated(conn, correlation_id)
            if found is None:
                continue
            envelope_ids = [e.id for e in found.envelopes]
            sessions = signer_evidence(conn, envelope_ids, datetime.now(UTC))
            lead = found.leads[0] if found.leads else None
            campaign = (
                sealed_fields.open_urls(conn, "leads.first_touch", lead.first_touch)
                if lead is not None
                else None
            )
        envelope_rows, events = found.envelopes, found.events
        receipt_rows, outbox_rows, attempts = found.receipts, found.outbox, found.attempts
        return {
            "correlation_id": correlation_id,
            "region": db.region,
            "campaign": campaign,
            "lead": {"id": lead.id, "created_at": lead.created_at.isoformat()} if lead else None,
            "envelopes": [
                {
                    "id": e.id,
                    "provider": e.provider,
                    "provider_envelope_id": e.provider_envelope_id,
                    "state": e.state,
                    "template_key": e.template_key,
                }
                for e in envelope_rows
            ],
            "receipts": [
                {
                    "id": r.id,
                    "connection": r.connection,
                    "source": r.source,
                    "dedup_key": r.dedup_key,
                    "received_at": r.received_at.isoformat(),
                    "status": r.status,
                }
                for r in receipt_rows
            ],
            "transitions": [
                {
                    "envelope_id": e.envelope_id,
                    "receipt_id": e.receipt_id,
                    "event_type": e.event_type,
                    "outcome": e.outcome,
                    "from_state": e.from_state,
                    "to_state": e.to_state,
                    "occurred_at": e.occurred_at.isoformat(),
                }
                for e in events
            ],
            "deliveries": [
                {
                    "outbox_id": o.id,
                    "destination": o.destination,
                    "fact": o.idempotency_key,
                    "status": o.status,
                    "attempts": [
                        {"attempt": a.attempt, "outcome": a.outcome, "error": a.error}
                        for a in attempts
                        if a.outbox_id == o.id
                    ],
                }
                for o in outbox_rows
            ],
            # The signer's authentication evidence: each signer session and its audit entries.
            "signer_sessions": sessions,
        }
    raise NotFound("correlation id", correlation_id)
