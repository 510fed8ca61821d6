"""The rows one correlation id ties together in a region: its lead, envelopes, their
transitions and the receipts that caused them, and its outbox rows with their delivery attempts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from inkbridge.store.schema import (
    deliveries,
    envelope_events,
    envelopes,
    leads,
    outbox,
    webhook_receipts,
)

# Result rows, read by column name: the trace view picks the columns it shows.
Rows = Sequence[Any]


@dataclass(frozen=True)
class CorrelatedRows:
    """Everything stored under one correlation id, each part in the order it happened."""

    leads: Rows
    envelopes: Rows
    events: Rows
    receipts: Rows
    outbox: Rows
    attempts: Rows


def correlated(conn: Connection, correlation_id: str) -> CorrelatedRows | None:
    """The rows of ``correlation_id`` in this region, or None when it holds no lead or envelope
    of that id."""
    lead_rows = conn.execute(select(leads).where(leads.c.correlation_id == correlation_id)).all()
    envelope_rows = conn.execute(
        select(envelopes)
        .where(envelopes.c.correlation_id == correlation_id)
        .order_by(envelopes.c.created_at)
    ).all()
    if not lead_rows and not envelope_rows:
        return None
    events = conn.execute(
        select(envelope_events)
        .where(envelope_events.c.envelope_id.in_([e.id for e in envelope_rows]))
        .order_by(envelope_events.c.seq)
    ).all()
    receipt_ids = sorted({e.receipt_id for e in events})
    receipt_rows = conn.execute(
        select(
            webhook_receipts.c.id,
            webhook_receipts.c.connection,
            webhook_receipts.c.source,
            webhook_receipts.c.dedup_key,
            webhook_receipts.c.received_at,
            webhook_receipts.c.status,
        ).where(webhook_receipts.c.id.in_(receipt_ids))
    ).all()
    outbox_rows = conn.execute(
        select(outbox).where(outbox.c.correlation_id == correlation_id).order_by(outbox.c.id)
    ).all()
    attempts = conn.execute(
        select(deliveries)
        .where(deliveries.c.outbox_id.in_([o.id for o in outbox_rows]))
        .order_by(deliveries.c.id)
    ).all()
    return CorrelatedRows(lead_rows, envelope_rows, events, receipt_rows, outbox_rows, attempts)
