"""The transactional outbox: rows written with the state change that caused them, claimed by the
delivery loop head-of-record first (``outbox_claims``) so per-record order holds with any number
of workers.

Rows are unique on (destination, idempotency_key): enqueuing a fact twice is a no-op. Statuses
(``OutboxStatus``): ``pending`` → ``inflight`` (leased) → ``delivered`` | ``superseded``
(coalesced into a newer change of the same record) | ``suppressed`` (policy forbids it) |
``dead`` (attempt budget spent; replayable). Every move is a guarded update: it names the
status it expects, so a row another worker has moved on is left alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, partial
from typing import Any

from sqlalchemy import (
    BindParameter,
    Connection,
    Insert,
    and_,
    bindparam,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from inkbridge.domain.queue_states import OUTBOX_LIVE, OUTBOX_SETTLED, OutboxStatus
from inkbridge.privacy.keyring import Subject
from inkbridge.store import sealed_fields, transaction_memo, work_signals
from inkbridge.store.driver_statements import insert_if_absent
from inkbridge.store.records import record_from
from inkbridge.store.schema import OUTBOX_DEAD_ROWS, deliveries, outbox


@dataclass(frozen=True)
class OutboxRow:
    id: int
    region: str
    destination: str
    idempotency_key: str
    record_key: str
    kind: str
    payload: dict[str, Any]
    status: OutboxStatus
    attempts: int
    correlation_id: str | None
    created_at: datetime
    lease_expired: bool = False
    last_error: str | None = None  # the reason of the last failed attempt (a dead letter's)


# Built once and run on the driver's cursor (``driver_statements``): one per change the worker
# settles. RETURNING tells an insert from a conflict: psycopg's rowcount reports 1 for both.
_ENQUEUE_COLUMNS = (
    "region",
    "destination",
    "idempotency_key",
    "record_key",
    "kind",
    "payload",
    "status",
    "attempts",
    "next_attempt_at",
    "correlation_id",
    "created_at",
)
# Built once per dialect (``insert_if_absent`` caches it).
_ENQUEUE = partial(
    insert_if_absent,
    outbox,
    ("destination", "idempotency_key"),
    columns=_ENQUEUE_COLUMNS,
    returning=("id",),
)


def enqueue(
    conn: Connection,
    *,
    region: str,
    destination: str,
    idempotency_key: str,
    record_key: str,
    kind: str,
    payload: dict[str, Any],
    correlation_id: str | None,
    now: datetime,
    subject: Subject | None = None,
) -> bool:
    """Insert one outbox row unless the same fact is already queued; True when inserted, or
    when left to the end of the transaction's memo (``transaction_memo``), where a conflict
    keeps the queued row. The payload (it carries the lead's contact fields) is sealed under
    ``subject``'s key, by default its lead's (``payload_subject``)."""
    values = {
        "region": region,
        "destination": destination,
        "idempotency_key": idempotency_key,
        "record_key": record_key,
        "kind": kind,
        "payload": sealed_fields.seal_json(
            conn, subject or payload_subject(payload, record_key), "outbox.payload", payload
        ),
        "status": OutboxStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "correlation_id": correlation_id,
        "created_at": now,
    }
    if transaction_memo.memo_of(conn) is not None:
        # A batch of receipts (a memo is open): the row goes in with the batch's other rows at
        # its end, one statement for them all; a fact already queued keeps its row there.
        transaction_memo.execute_later(conn, _enqueue_later(conn.dialect.name), values)
    elif _ENQUEUE(dialect_name=conn.dialect.name).first(conn, values) is None:
        return False
    # Delivery loops wake when this commits instead of on their next poll.
    work_signals.announce(conn, "outbox")
    return True


@cache
def _enqueue_later(dialect_name: str) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING`` of outbox rows, run once for a batch's rows."""
    insert = (postgresql if dialect_name == "postgresql" else sqlite).insert(outbox)
    statement: Insert = insert.on_conflict_do_nothing(
        index_elements=["destination", "idempotency_key"]
    )
    return statement


def payload_subject(payload: dict[str, Any], record_key: str) -> Subject:
    """Whose data a change carries: its lead's, else its envelope's, else its record's own."""
    lead = payload.get("lead")
    if isinstance(lead, dict) and lead.get("id"):
        return sealed_fields.lead(str(lead["id"]))
    envelope = payload.get("envelope")
    if isinstance(envelope, dict) and envelope.get("id"):
        return sealed_fields.envelope_subject(str(envelope["id"]), envelope.get("lead_id"))
    return ("record", record_key)


def outbox_row(conn: Connection, record: Any, lease_expired: bool = False) -> OutboxRow:
    return record_from(
        OutboxRow,
        record,
        payload=dict(sealed_fields.open_json(conn, "outbox.payload", record.payload) or {}),
        status=OutboxStatus(record.status),
        lease_expired=lease_expired,
    )


# The moves a delivery makes on every batch, built once: the rows named by ``ids`` that are
# still in flight (a row another worker has moved on is left alone).
_IDS: BindParameter[Any] = bindparam("ids", expanding=True)
_IN_FLIGHT = update(outbox).where(outbox.c.id.in_(_IDS), outbox.c.status == OutboxStatus.INFLIGHT)
_SETTLE = _IN_FLIGHT.values(
    status=bindparam("status", type_=outbox.c.status.type),
    delivered_at=bindparam("now", type_=outbox.c.delivered_at.type),
    lease_until=None,
)
_FAIL = {
    retry: _IN_FLIGHT.values(
        status=bindparam("status", type_=outbox.c.status.type),
        attempts=outbox.c.attempts + 1,
        lease_until=None,
        last_error=bindparam("error", type_=outbox.c.last_error.type),
        **(
            {"next_attempt_at": bindparam("due", type_=outbox.c.next_attempt_at.type)}
            if retry
            else {}
        ),
    )
    for retry in (False, True)
}


def mark_delivered(
    conn: Connection,
    ids: Sequence[int],
    superseded: Sequence[int],
    now: datetime,
    *,
    payload: dict[str, Any] | None = None,
) -> None:
    """Settle delivered (and superseded) rows; ``payload``, when given, replaces the payload of
    the delivered rows in the same guarded update (an erasure's identifiers, needed by the
    vendor once, are not kept once it is done)."""
    if ids and payload is not None:
        conn.execute(
            _IN_FLIGHT.values(
                status=OutboxStatus.DELIVERED, delivered_at=now, lease_until=None, payload=payload
            ),
            {"ids": list(ids)},
        )
    elif ids:
        conn.execute(_SETTLE, {"ids": list(ids), "status": OutboxStatus.DELIVERED, "now": now})
    if superseded:
        conn.execute(
            _SETTLE, {"ids": list(superseded), "status": OutboxStatus.SUPERSEDED, "now": now}
        )


def mark_retry(conn: Connection, ids: Sequence[int], next_attempt_at: datetime, error: str) -> None:
    _mark_failed(conn, ids, error, OutboxStatus.PENDING, next_attempt_at)


def mark_dead(conn: Connection, ids: Sequence[int], error: str) -> None:
    _mark_failed(conn, ids, error, OutboxStatus.DEAD)


def _mark_failed(
    conn: Connection,
    ids: Sequence[int],
    error: str,
    status: OutboxStatus,
    next_attempt_at: datetime | None = None,
) -> None:
    """Settle in-flight rows after a failed attempt: count it, drop the lease, keep the error;
    a row given up on keeps its last due time."""
    params = {"ids": list(ids), "status": status, "error": error[:2000], "due": next_attempt_at}
    conn.execute(_FAIL[next_attempt_at is not None], params)


@dataclass(frozen=True)
class BatchRun:
    """One delivery batch as the deliveries log records it: its id, start and end."""

    batch_id: str
    started_at: datetime
    finished_at: datetime


@dataclass(frozen=True)
class Attempt:
    """One row's attempt in a batch and how it ended (delivered, superseded, retry, dead)."""

    row: OutboxRow
    outcome: str
    error: str | None = None


def record_attempts(
    conn: Connection, run: BatchRun, attempts: Sequence[Attempt], status_code: int | None = None
) -> None:
    """Log the attempts of one batch, each with its own outcome, in one statement."""
    if not attempts:
        return
    conn.execute(
        deliveries.insert(),
        [
            {
                "outbox_id": item.row.id,
                "destination": item.row.destination,
                "batch_id": run.batch_id,
                "attempt": item.row.attempts + 1,
                "started_at": run.started_at,
                "finished_at": run.finished_at,
                "outcome": item.outcome,
                "status_code": status_code,
                "error": item.error[:2000] if item.error else None,
            }
            for item in attempts
        ],
    )


def list_dead(conn: Connection, destination: str | None, limit: int = 100) -> list[OutboxRow]:
    query = (
        select(outbox)
        .where(text(OUTBOX_DEAD_ROWS))  # ix_outbox_dead (SQLite needs the predicate's text)
        .order_by(outbox.c.id)
        .limit(limit)
    )
    if destination:
        query = query.where(outbox.c.destination == destination)
    return [outbox_row(conn, r) for r in conn.execute(query)]


def retry_dead(
    conn: Connection,
    now: datetime,
    ids: Sequence[int] | None = None,
    destination: str | None = None,
    coalescing: frozenset[str] = frozenset(),
    coalescing_kinds: frozenset[str] = frozenset(),
) -> int:
    """Move dead letters back to pending with a fresh attempt budget; returns how many.

    For upsert destinations (``coalescing``), a dead change of a kind that coalesces
    (``coalescing_kinds``) is superseded instead when a newer change of the same record and kind
    was delivered since: sending it now would move the record back to an older state."""
    conditions = [outbox.c.status == OutboxStatus.DEAD]
    if ids is not None:
        conditions.append(outbox.c.id.in_(ids))
    if destination is not None:
        conditions.append(outbox.c.destination == destination)
    newer = outbox.alias("newer")
    overtaken = (
        select(newer.c.id)
        .where(
            newer.c.destination == outbox.c.destination,
            newer.c.record_key == outbox.c.record_key,
            newer.c.kind == outbox.c.kind,
            newer.c.id > outbox.c.id,
            newer.c.status.in_(OUTBOX_SETTLED),
        )
        .exists()
    )
    if coalescing and coalescing_kinds:
        conn.execute(
            update(outbox)
            .where(
                and_(*conditions),
                outbox.c.destination.in_(coalescing),
                outbox.c.kind.in_(coalescing_kinds),
                overtaken,
            )
            .values(
                status=OutboxStatus.SUPERSEDED,
                delivered_at=now,
                last_error="overtaken before replay",
            )
        )
    result = conn.execute(
        update(outbox)
        .where(and_(*conditions))
        .values(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=now, last_error=None)
    )
    if result.rowcount:
        work_signals.announce(conn, "outbox")
    return int(result.rowcount)


def counts(conn: Connection) -> dict[tuple[str, str], int]:
    rows = conn.execute(
        select(outbox.c.destination, outbox.c.status, func.count()).group_by(
            outbox.c.destination, outbox.c.status
        )
    )
    return {(r[0], r[1]): int(r[2]) for r in rows}


def pending_exists(conn: Connection) -> bool:
    query = select(outbox.c.id).where(outbox.c.status.in_(OUTBOX_LIVE))
    return conn.execute(query.limit(1)).first() is not None


def unlease(conn: Connection, ids: Sequence[int]) -> None:
    """Return claimed rows untouched (no attempt counted) to the pending queue."""
    conn.execute(
        update(outbox)
        .where(outbox.c.id.in_(ids), outbox.c.status == OutboxStatus.INFLIGHT)
        .values(status=OutboxStatus.PENDING, lease_until=None)
    )


def mark_suppressed(conn: Connection, ids: Sequence[int], now: datetime) -> None:
    """Settle claimed changes that policy forbids sending (a marketing action without consent)."""
    conn.execute(
        update(outbox)
        .where(outbox.c.id.in_(ids), outbox.c.status == OutboxStatus.INFLIGHT)
        .values(status=OutboxStatus.SUPPRESSED, delivered_at=now, lease_until=None)
    )
