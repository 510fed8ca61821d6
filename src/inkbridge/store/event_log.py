"""The envelope event log: every normalized event that reached an envelope, with its outcome,
append-only and hash-chained per envelope. Envelope state can be rebuilt from it alone."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, select

from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.store import chains
from inkbridge.store.schema import chain_heads, envelope_events

EVENT_CONTENT = [
    "region",
    "envelope_id",
    "receipt_id",
    "event_index",
    "event_type",
    "vendor_event",
    "recipient_id",
    "occurred_at",
    "received_at",
    "outcome",
    "from_state",
    "to_state",
    "correlation_id",
]


def chain_name(envelope_id: str) -> str:
    return f"envelope:{envelope_id}"


def append(
    conn: Connection,
    *,
    region: str,
    envelope_id: str,
    receipt_id: int,
    event_index: int,
    event: NormalizedEvent,
    received_at: datetime,
    outcome: str,
    from_state: str,
    to_state: str,
    correlation_id: str | None,
) -> int:
    content = {
        "region": region,
        "envelope_id": envelope_id,
        "receipt_id": receipt_id,
        "event_index": event_index,
        "event_type": event.type.value,
        "vendor_event": event.vendor_event or event.type.value,
        "recipient_id": event.recipient_id,
        "occurred_at": event.occurred_at,
        "received_at": received_at,
        "outcome": outcome,
        "from_state": from_state,
        "to_state": to_state,
        "correlation_id": correlation_id,
    }
    seq, _ = chains.append(conn, envelope_events, chain_name(envelope_id), content)
    return seq


def for_envelope(conn: Connection, envelope_id: str) -> list[Row[Any]]:
    return list(
        conn.execute(
            select(envelope_events)
            .where(envelope_events.c.envelope_id == envelope_id)
            .order_by(envelope_events.c.seq)
        )
    )


def as_normalized(row: Row[Any], provider: str, provider_envelope_id: str) -> NormalizedEvent:
    return NormalizedEvent(
        type=EventType(row.event_type),
        provider=provider,
        provider_envelope_id=provider_envelope_id,
        occurred_at=row.occurred_at,
        recipient_id=row.recipient_id,
        vendor_event=row.vendor_event,
    )


def head(conn: Connection, envelope_id: str) -> tuple[str, int] | None:
    row = conn.execute(
        select(chain_heads.c.last_hash, chain_heads.c.length).where(
            chain_heads.c.name == chain_name(envelope_id)
        )
    ).first()
    return (str(row[0]), int(row[1])) if row is not None else None


def verify(
    conn: Connection, region: str, envelope_id: str, head: tuple[str, int] | None
) -> chains.ChainBreak | None:
    """Walk one envelope's event log against its chain head; the first break, if any."""
    rows = (dict(r._mapping) for r in for_envelope(conn, envelope_id))
    return chains.verify_entries(f"{region}:{chain_name(envelope_id)}", rows, EVENT_CONTENT, head)
