"""The SQL of retention: for each windowed category, which rows are due before a cutoff and how
they are purged. Evidence (the consent ledger, audit and event logs) has no entry: it is kept.

Each category is one or more parts (a table and its due rows); a part's ``purge`` takes the keys
its ``due`` select found, in the caller's transaction, and says how many rows of which tables it
changed. Every purge is guarded by the same conditions as its select, so a row that stopped
being due in between (a lead that got an envelope, a receipt claimed again) is left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    delete,
    exists,
    func,
    select,
    update,
)

from inkbridge.domain.queue_states import OUTBOX_LIVE, ReceiptStatus
from inkbridge.domain.retention import RetentionCategory
from inkbridge.store.schema import (
    anonymous_visitors,
    deliveries,
    envelopes,
    leads,
    outbox,
    touchpoints,
    webhook_receipts,
)

# Receipts no worker will read again (a failed one may be replayed; past its window it is
# replayed without its body, and fails again, saying so).
SETTLED_RECEIPTS = (ReceiptStatus.DONE, ReceiptStatus.IGNORED, ReceiptStatus.FAILED)
# What a purged lead keeps of its first touch: campaign-level values, which the funnel's
# campaign filter reads, and no referrer, landing page, click id or anonymous id.
FIRST_TOUCH_KEPT = ("occurred_at", "utm_source", "utm_medium", "utm_campaign")
LEAD_PERSONAL_COLUMNS = (
    "email",
    "email_hash",
    "first_name",
    "last_name",
    "company",
    "anonymous_id",
    "owner",
)

Keys = Sequence[Any]


@dataclass(frozen=True)
class Part:
    """One table's share of a category: its due rows and how they are purged."""

    table: str
    due: Callable[[datetime], ColumnElement[bool]]  # the WHERE clause of the due rows
    key: Any  # the key column the due select returns
    purge: Callable[[Connection, Keys, datetime, datetime], dict[str, int]]


def _receipts_due(cutoff: datetime) -> ColumnElement[bool]:
    r = webhook_receipts.c
    return (r.received_at < cutoff) & r.status.in_(SETTLED_RECEIPTS) & (func.length(r.body) > 0)


def _purge_receipt_bodies(
    conn: Connection, keys: Keys, cutoff: datetime, _now: datetime
) -> dict[str, int]:
    # The row, its dedup key and status stay: a replayed old delivery is still a duplicate.
    # The inline data key goes too, so a copy of the old ciphertext (free pages, the WAL, a
    # backup) can no longer be opened.
    result = conn.execute(
        update(webhook_receipts)
        .where(webhook_receipts.c.id.in_(keys), _receipts_due(cutoff))
        .values(body=b"", headers={}, body_key=None, body_kek_id=None)
    )
    return {"webhook_receipts": result.rowcount}


def _touchpoints_due(cutoff: datetime) -> ColumnElement[bool]:
    return touchpoints.c.occurred_at < cutoff


def _purge_touchpoints(
    conn: Connection, keys: Keys, cutoff: datetime, _now: datetime
) -> dict[str, int]:
    result = conn.execute(
        delete(touchpoints).where(touchpoints.c.id.in_(keys), _touchpoints_due(cutoff))
    )
    return {"touchpoints": result.rowcount}


def _visitors_due(cutoff: datetime) -> ColumnElement[bool]:
    """First sightings older than the window of visitors with no touch left in it and no lead:
    nothing dates a touch against them any more."""
    v = anonymous_visitors.c
    recent_touch = exists().where(
        touchpoints.c.anonymous_id == v.anonymous_id, touchpoints.c.occurred_at >= cutoff
    )
    lead = exists().where(leads.c.anonymous_id == v.anonymous_id)
    return (v.first_seen_at < cutoff) & ~recent_touch & ~lead


def _purge_visitors(
    conn: Connection, keys: Keys, cutoff: datetime, _now: datetime
) -> dict[str, int]:
    result = conn.execute(
        delete(anonymous_visitors).where(
            anonymous_visitors.c.anonymous_id.in_(keys), _visitors_due(cutoff)
        )
    )
    return {"anonymous_visitors": result.rowcount}


def _leads_due(cutoff: datetime) -> ColumnElement[bool]:
    converted = exists().where(envelopes.c.lead_id == leads.c.id)
    return (leads.c.created_at < cutoff) & leads.c.purged_at.is_(None) & ~converted


def _purge_leads(conn: Connection, keys: Keys, cutoff: datetime, now: datetime) -> dict[str, int]:
    """Blank the personal fields of leads that never got an envelope and delete their touches.
    The row stays (id, region, times): the consent ledger, which is evidence, points at it."""
    rows = conn.execute(
        select(leads.c.id, leads.c.first_touch).where(leads.c.id.in_(keys), _leads_due(cutoff))
    ).all()
    purged: list[str] = []
    for row in rows:
        first = dict(row.first_touch or {})
        result = conn.execute(
            update(leads)
            .where(leads.c.id == row.id, _leads_due(cutoff))
            .values(
                **dict.fromkeys(LEAD_PERSONAL_COLUMNS),
                first_touch={k: first[k] for k in FIRST_TOUCH_KEPT if k in first},
                purged_at=now,
            )
        )
        if result.rowcount:
            purged.append(row.id)
    touches = conn.execute(delete(touchpoints).where(touchpoints.c.lead_id.in_(purged))).rowcount
    return {"leads": len(purged), "touchpoints": touches}


def _outbox_due(cutoff: datetime) -> ColumnElement[bool]:
    return (outbox.c.created_at < cutoff) & outbox.c.status.not_in(OUTBOX_LIVE)


def _purge_outbox(conn: Connection, keys: Keys, cutoff: datetime, _now: datetime) -> dict[str, int]:
    due = [
        r.id
        for r in conn.execute(select(outbox.c.id).where(outbox.c.id.in_(keys), _outbox_due(cutoff)))
    ]
    attempts = conn.execute(delete(deliveries).where(deliveries.c.outbox_id.in_(due))).rowcount
    rows = conn.execute(delete(outbox).where(outbox.c.id.in_(due))).rowcount
    return {"outbox": rows, "deliveries": attempts}


PARTS: dict[RetentionCategory, tuple[Part, ...]] = {
    RetentionCategory.RECEIPT_BODIES: (
        Part("webhook_receipts", _receipts_due, webhook_receipts.c.id, _purge_receipt_bodies),
    ),
    RetentionCategory.TOUCHPOINTS: (
        Part("touchpoints", _touchpoints_due, touchpoints.c.id, _purge_touchpoints),
        Part(
            "anonymous_visitors",
            _visitors_due,
            anonymous_visitors.c.anonymous_id,
            _purge_visitors,
        ),
    ),
    RetentionCategory.UNCONVERTED_LEADS: (Part("leads", _leads_due, leads.c.id, _purge_leads),),
    RetentionCategory.DELIVERY_ATTEMPTS: (Part("outbox", _outbox_due, outbox.c.id, _purge_outbox),),
}


def due_keys(conn: Connection, part: Part, cutoff: datetime, limit: int) -> list[Any]:
    """Up to ``limit`` keys of the part's rows due before ``cutoff``, lowest first."""
    query = select(part.key).where(part.due(cutoff)).order_by(part.key).limit(limit)
    return [row[0] for row in conn.execute(query)]


def count_due(conn: Connection, part: Part, cutoff: datetime) -> int:
    """How many of the part's rows are due before ``cutoff`` (changes nothing)."""
    query = select(func.count()).select_from(part.key.table).where(part.due(cutoff))
    return int(conn.execute(query).scalar_one())
