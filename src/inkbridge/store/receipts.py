"""Claiming and settling inbox receipts for the worker.

Receipts are claimed with a lease (``processing`` until ``lease_until``); a worker that dies
leaves its lease to expire and another worker takes the receipt over, so every acknowledged
webhook is processed even across a kill -9. On PostgreSQL, claims skip rows other workers lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, String, bindparam, func, select, text, update

from inkbridge.domain.queue_states import ReceiptStatus
from inkbridge.store import receipt_bodies
from inkbridge.store.column_types import UTCDateTime
from inkbridge.store.records import columns_of, record_from
from inkbridge.store.schema import webhook_receipts
from inkbridge.store.sealed_fields import keyring_of
from inkbridge.store.transaction_memo import execute_later


@dataclass(frozen=True)
class ReceiptRecord:
    id: int
    region: str
    connection: str
    dedup_key: str
    source: str
    content_type: str | None
    headers: dict[str, str]
    body: bytes
    received_at: datetime
    attempts: int
    correlation_id: str | None


# The states are written into the text (constants, not input) so the statement, and the plan the
# claim index gives it, are the same as with literals. Each state is read from the claim index
# (status, id) in id order on its own, at most :window rows each: asked as one OR, PostgreSQL's
# planner, once it has statistics, walks the primary key from the oldest receipt and filters
# out every settled one (20,000 rows read per claim over 20,000 settled receipts). The outer
# query checks the states again (on PostgreSQL, a row a concurrent claim moved since this
# statement began is re-read under its lock); there the candidates are an array, so the outer
# query looks them up by primary key instead of joining them to every due row.
_DUE = f"""((status = '{ReceiptStatus.PENDING}')
       OR (status = '{ReceiptStatus.PROCESSING}' AND lease_until < :now))"""
_CLAIM_SQL = f"""
SELECT id FROM webhook_receipts
WHERE id {{candidates}} (
    SELECT id FROM (
        SELECT id FROM webhook_receipts
        WHERE status = '{ReceiptStatus.PENDING}' AND (source = 'trigger') = :triggers
        ORDER BY status, id LIMIT :window
    ) AS pending
    UNION ALL
    SELECT id FROM (
        SELECT id FROM webhook_receipts
        WHERE status = '{ReceiptStatus.PROCESSING}' AND lease_until < :now
          AND (source = 'trigger') = :triggers
        ORDER BY status, id LIMIT :window
    ) AS expired
){{close}}
  AND {_DUE}
ORDER BY id
LIMIT :limit
"""  # noqa: S608 - no value in the text comes from outside this module
# Candidates read per state: more than a claim takes, so a concurrent claim on PostgreSQL,
# whose locked rows this one skips, still leaves it receipts to take.
CLAIM_WINDOW = 2


_CLAIM = {
    dialect: text(_CLAIM_SQL.format(candidates=candidates, close=close) + suffix).bindparams(
        bindparam("now", type_=UTCDateTime())
    )
    for dialect, candidates, close, suffix in (
        ("postgresql", "= ANY (ARRAY", ")", " FOR UPDATE SKIP LOCKED"),
        ("sqlite", "IN", "", ""),
    )
}
# The lease of the claimed ids, returning their rows: one statement instead of an update and a
# select (built once, like the settle below: the worker runs them for every receipt).
_LEASE = (
    update(webhook_receipts)
    .where(webhook_receipts.c.id.in_(bindparam("ids", expanding=True)))
    .values(
        status=ReceiptStatus.PROCESSING.value,
        lease_until=bindparam("lease_until"),
        attempts=webhook_receipts.c.attempts + 1,
    )
    .returning(*webhook_receipts.c)
)


def _record(conn: Connection, row: Any) -> ReceiptRecord:
    headers, body = receipt_bodies.opened(keyring_of(conn), row)
    return record_from(ReceiptRecord, row, headers=headers, body=body)


def claim(
    conn: Connection,
    *,
    limit: int,
    lease_seconds: float,
    now: datetime,
    triggers: bool = False,
) -> list[ReceiptRecord]:
    """Lease due receipts: provider deliveries and reconcile reports, or (``triggers``) inbound
    CRM triggers, which the worker runs on its event loop because they call a provider."""
    params = {"now": now, "limit": limit, "window": limit * CLAIM_WINDOW, "triggers": triggers}
    ids = [int(r[0]) for r in conn.execute(_CLAIM[conn.dialect.name], params)]
    if not ids:
        return []
    lease_until = now + timedelta(seconds=lease_seconds)
    rows = conn.execute(_LEASE, {"ids": ids, "lease_until": lease_until}).all()
    return [_record(conn, r) for r in sorted(rows, key=lambda r: int(r.id))]


def load(conn: Connection, receipt_id: int) -> ReceiptRecord | None:
    row = conn.execute(select(webhook_receipts).where(webhook_receipts.c.id == receipt_id)).first()
    return _record(conn, row) if row is not None else None


def settle(
    conn: Connection,
    receipt_id: int,
    *,
    status: ReceiptStatus,
    now: datetime,
    error: str | None = None,
    correlation_id: str | None = None,
    lead_id: str | None = None,
) -> bool:
    """Finish a leased receipt: ``done`` (processed), ``ignored`` (nothing to do) or ``failed``.
    ``lead_id`` links it to the lead its events were about, so an erasure finds it.

    A guarded move out of ``processing``: False when the receipt was not leased (nothing
    changed)."""
    if status not in _SETTLED:
        raise ValueError(f"a receipt is settled as done, ignored or failed, not {status!r}")
    params = _settle_params(receipt_id, status, now, error, correlation_id, lead_id)
    return bool(conn.execute(_SETTLE, params).rowcount)


def settle_done_later(
    conn: Connection,
    receipt_id: int,
    *,
    now: datetime,
    correlation_id: str | None,
    lead_id: str | None,
) -> None:
    """Settle a processed receipt as ``done`` (see ``settle``) with the other receipts of the
    worker's batch, in one statement before it commits (``transaction_memo``; at once outside
    one). Until then it stays leased, so no claim takes it again."""
    params = _settle_params(receipt_id, ReceiptStatus.DONE, now, None, correlation_id, lead_id)
    execute_later(conn, _SETTLE, params)


def _settle_params(
    receipt_id: int,
    status: ReceiptStatus,
    now: datetime,
    error: str | None,
    correlation_id: str | None,
    lead_id: str | None,
) -> dict[str, Any]:
    return {
        "b_id": receipt_id,
        "b_status": status.value,
        "b_processed_at": now,
        "b_error": error[:2000] if error else None,
        # Kept as they are unless given (COALESCE).
        "b_correlation_id": correlation_id or None,
        "b_lead_id": lead_id or None,
    }


def release(conn: Connection, receipt_id: int, *, error: str, retry_at: datetime) -> bool:
    """Give a leased receipt back for a later attempt (e.g. a lost compare-and-set race): it
    stays ``processing`` with a lease that runs out at ``retry_at``. False when not leased."""
    values = {"status": ReceiptStatus.PROCESSING, "lease_until": retry_at, "error": error[:2000]}
    return _move(conn, receipt_id, values)


def refuse_for_residency(conn: Connection, receipt_id: int, *, reason: str, now: datetime) -> bool:
    """Park a leased receipt as ``refused_residency`` and drop its body, which holds another
    region's personal data (its dedup key stays, so a redelivery is still a duplicate). On
    SQLite the freed bytes are overwritten, not left in the file's free space. False when the
    receipt was not leased (nothing changed)."""
    values: dict[str, Any] = {
        "status": ReceiptStatus.REFUSED_RESIDENCY,
        "body": b"",
        "headers": {},
        # Its data key too: a leftover copy of the ciphertext stays unreadable.
        "body_key": None,
        "body_kek_id": None,
        "processed_at": now,
        "lease_until": None,
        "error": reason,
    }
    if conn.dialect.name != "sqlite":
        return _move(conn, receipt_id, values)
    previous = conn.exec_driver_sql("PRAGMA secure_delete").scalar()
    conn.exec_driver_sql("PRAGMA secure_delete = ON")
    try:
        return _move(conn, receipt_id, values)
    finally:
        conn.exec_driver_sql(f"PRAGMA secure_delete = {int(previous or 0)}")


@dataclass(frozen=True)
class ParkedReceipt:
    """A receipt as the admin listing shows it: where and when it came, why it is parked."""

    id: int
    region: str
    connection: str
    source: str
    received_at: datetime
    processed_at: datetime | None
    reason: str | None


def parked(conn: Connection, status: ReceiptStatus, *, limit: int) -> list[ParkedReceipt]:
    """The newest receipts in ``status`` (no body, no headers), newest first."""
    columns = webhook_receipts.c
    rows = conn.execute(
        select(*columns_of(webhook_receipts, ParkedReceipt, reason="error"))
        .where(columns.status == status)
        .order_by(columns.id.desc())
        .limit(limit)
    )
    return [record_from(ParkedReceipt, r) for r in rows]


_SETTLED = frozenset({ReceiptStatus.DONE, ReceiptStatus.IGNORED, ReceiptStatus.FAILED})
_LEASED = (webhook_receipts.c.id == bindparam("b_id")) & (
    webhook_receipts.c.status == ReceiptStatus.PROCESSING.value
)
_SETTLE = (
    update(webhook_receipts)
    .where(_LEASED)
    .values(
        status=bindparam("b_status"),
        processed_at=bindparam("b_processed_at"),
        lease_until=None,
        error=bindparam("b_error"),
        correlation_id=func.coalesce(
            bindparam("b_correlation_id", type_=String(40)), webhook_receipts.c.correlation_id
        ),
        lead_id=func.coalesce(bindparam("b_lead_id", type_=String(40)), webhook_receipts.c.lead_id),
    )
)


def _move(conn: Connection, receipt_id: int, values: dict[str, Any]) -> bool:
    """Update a receipt only while it is leased (``UPDATE … WHERE status = 'processing'``)."""
    columns = webhook_receipts.c
    result = conn.execute(
        update(webhook_receipts)
        .where(columns.id == receipt_id, columns.status == ReceiptStatus.PROCESSING)
        .values(**values)
    )
    return bool(result.rowcount)
