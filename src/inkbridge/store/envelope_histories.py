"""Every envelope of a region with its event log and its recipients' statuses, streamed in
envelope id order for a replay: three queries, each read once in order (server-side cursors on
PostgreSQL), merged by envelope id, instead of three queries per envelope."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import ColumnElement, Connection, Result, Row, func, select

from inkbridge.store.schema import envelope_events, envelopes, recipients

# What a replay reads of an envelope: its stored snapshot, and what ``save_snapshot``,
# ``upsert_recipient`` and the audit entry read of the row it writes over.
ENVELOPE_COLUMNS = (
    envelopes.c.id,
    envelopes.c.version,
    envelopes.c.state,
    envelopes.c.milestones,
    envelopes.c.delivery_failed,
    envelopes.c.conflicts,
    envelopes.c.lead_id,
    envelopes.c.lead_created_at,
    envelopes.c.sent_at,
    envelopes.c.completed_at,
    envelopes.c.provider,
    envelopes.c.provider_envelope_id,
    envelopes.c.correlation_id,
)
EVENT_COLUMNS = (
    envelope_events.c.envelope_id,
    envelope_events.c.event_type,
    envelope_events.c.vendor_event,
    envelope_events.c.recipient_id,
    envelope_events.c.occurred_at,
)


@dataclass(frozen=True)
class EnvelopeHistory:
    """One envelope as stored (``ENVELOPE_COLUMNS``), its event log oldest first
    (``EVENT_COLUMNS``) and its recipients' statuses by recipient id."""

    envelope: Row[Any]
    events: list[Row[Any]]
    statuses: dict[str, str]


def count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(envelopes)).scalar_one())


def _code_point_order(conn: Connection, column: ColumnElement[str]) -> ColumnElement[str]:
    """The streams are merged by comparing ids in Python, so each must come in Python's string
    order: SQLite's default (BINARY) is it; PostgreSQL's database collation may not be, "C" is."""
    return column.collate("C") if conn.dialect.name == "postgresql" else column


class _Groups:
    """Rows grouped by their first column (an envelope id), taken in ascending id order."""

    def __init__(self, rows: Iterator[Row[Any]]) -> None:
        self._groups = groupby(rows, key=itemgetter(0))
        self._head = next(self._groups, None)

    def take(self, envelope_id: str) -> list[Row[Any]]:
        # Groups of ids below this one belong to no envelope (none with the foreign keys on).
        while self._head is not None and self._head[0] < envelope_id:
            self._head = next(self._groups, None)
        if self._head is None or self._head[0] != envelope_id:
            return []
        rows = list(self._head[1])
        self._head = next(self._groups, None)
        return rows


def stream(conn: Connection, batch: int = 5000) -> Iterator[EnvelopeHistory]:
    """Every envelope with its history, in envelope id order; run it in one snapshot
    (``RegionDatabase.snapshot``) so the three streams agree."""
    streaming = {"stream_results": True, "yield_per": batch}
    rows: Result[Any] = conn.execute(
        select(*ENVELOPE_COLUMNS).order_by(_code_point_order(conn, envelopes.c.id)),
        execution_options=streaming,
    )
    events = _Groups(
        iter(
            conn.execute(
                select(*EVENT_COLUMNS).order_by(
                    _code_point_order(conn, envelope_events.c.envelope_id), envelope_events.c.seq
                ),
                execution_options=streaming,
            )
        )
    )
    statuses = _Groups(
        iter(
            conn.execute(
                select(
                    recipients.c.envelope_id, recipients.c.recipient_id, recipients.c.status
                ).order_by(_code_point_order(conn, recipients.c.envelope_id)),
                execution_options=streaming,
            )
        )
    )
    for row in rows:
        yield EnvelopeHistory(
            envelope=row,
            events=events.take(row.id),
            statuses={r.recipient_id: r.status for r in statuses.take(row.id)},
        )
