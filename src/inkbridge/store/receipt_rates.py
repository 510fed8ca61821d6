"""How many receipts each connection stored per minute, by status, over a recent window.

One query per region: the rows received in ``[edges[0], edges[-1])``, each put in its minute
by a CASE over the minute edges (bound timestamps, so the same SQL on SQLite and PostgreSQL),
counted per connection, status and minute. ``ix_webhook_receipts_received`` (received_at,
connection, status) answers it from the index alone, however much history the table holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, case, func, literal, select

from inkbridge.store.schema import webhook_receipts


@dataclass(frozen=True)
class MinuteCount:
    connection: str
    status: str
    minute: int  # index of the minute in the window, 0 the oldest
    receipts: int


def minute_bucket(edges: Sequence[datetime]) -> ColumnElement[int]:
    """The SQL expression naming the minute a receipt falls in (0 … len(edges) - 2)."""
    received = webhook_receipts.c.received_at
    whens = [(received < edge, i) for i, edge in enumerate(edges[1:-1])]
    last = len(edges) - 2
    return case(*whens, else_=last) if whens else literal(last)


def per_minute(conn: Connection, edges: Sequence[datetime]) -> list[MinuteCount]:
    """Receipts per (connection, status, minute) received from ``edges[0]`` until ``edges[-1]``;
    ``edges`` are the minutes' starts followed by the window's end, ascending."""
    if len(edges) < 2:
        raise ValueError("a window needs a start and an end")
    columns = webhook_receipts.c
    # Grouped outside: PostgreSQL would not match the CASE's bound parameters in the select
    # list with those of a GROUP BY repeating it.
    rows = (
        select(columns.connection, columns.status, minute_bucket(edges).label("minute"))
        .where(columns.received_at >= edges[0], columns.received_at < edges[-1])
        .subquery()
    )
    query = select(rows.c.connection, rows.c.status, rows.c.minute, func.count()).group_by(
        rows.c.connection, rows.c.status, rows.c.minute
    )
    return [
        MinuteCount(str(connection), str(status), int(minute), int(count))
        for connection, status, minute, count in conn.execute(query)
    ]
