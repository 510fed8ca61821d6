"""How deep the two queues are, for metrics read at scrape time.

Each query is bounded by an index: the outbox ones by the partial indexes on live rows and on
dead letters (their predicates repeated as text, as SQLite needs to use them),
the inbox one by ``ix_webhook_receipts_claim`` (status, id). They touch only live rows (the
backlog) and count dead letters from the index alone, so a scrape costs the same however much
delivered history the tables hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, select, text

from inkbridge.domain.queue_states import RECEIPT_CLAIMABLE
from inkbridge.store.schema import OUTBOX_DEAD_ROWS, outbox, outbox_live_rows, webhook_receipts


@dataclass(frozen=True)
class QueueDepth:
    """Rows waiting in a queue and when the oldest of them was written (None: empty)."""

    waiting: int
    oldest: datetime | None


def outbox_backlog(conn: Connection, destination: str) -> QueueDepth:
    """Changes still owed to ``destination`` (pending or in flight)."""
    row = conn.execute(
        select(func.count(), func.min(outbox.c.created_at)).where(
            outbox.c.destination == destination, text(outbox_live_rows())
        )
    ).one()
    return QueueDepth(int(row[0]), row[1])


def dead_letters(conn: Connection, destination: str) -> int:
    """Changes given up on for ``destination`` (replayable with ``inkbridge dlq``)."""
    query = select(func.count()).where(outbox.c.destination == destination, text(OUTBOX_DEAD_ROWS))
    return int(conn.execute(query).scalar_one())


def inbox_backlog(conn: Connection) -> QueueDepth:
    """Receipts not yet settled by a worker, and when the oldest of them was received."""
    live = webhook_receipts.c.status.in_(RECEIPT_CLAIMABLE)
    waiting = int(conn.execute(select(func.count()).where(live)).scalar_one())
    if not waiting:
        return QueueDepth(0, None)
    # The lowest id is the first received: one index step, then one row.
    oldest = conn.execute(
        select(webhook_receipts.c.received_at).where(live).order_by(webhook_receipts.c.id).limit(1)
    ).scalar()
    return QueueDepth(waiting, oldest)


def parked_receipt_counts(conn: Connection, statuses: tuple[str, ...]) -> dict[str, int]:
    """How many receipts are parked in each of ``statuses`` (refused, ignored, failed)."""
    rows = conn.execute(
        select(webhook_receipts.c.status, func.count())
        .where(webhook_receipts.c.status.in_(statuses))
        .group_by(webhook_receipts.c.status)
    )
    return {str(status): int(count) for status, count in rows}
