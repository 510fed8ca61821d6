"""The audit log: append-only, hash-chained, tagged ``source:subject:action``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from inkbridge.store import chains
from inkbridge.store.schema import audit_log

AUDIT_CHAIN = "audit"
AUDIT_CONTENT = [
    "region",
    "at",
    "actor",
    "action",
    "subject_id",
    "correlation_id",
    "details",
]


def record(
    conn: Connection,
    *,
    region: str,
    actor: str,
    action: str,
    subject_id: str | None,
    correlation_id: str | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Append one audit entry in the caller's transaction; ``correlation_id`` names the flow it
    belongs to, if any. Never put personal data in details. In a worker's batch (a chain memo)
    the entry is linked and inserted with the batch's others, in order, when the batch ends:
    the audit chain's head is held from then until the commit only."""
    content = {
        "region": region,
        "at": at or datetime.now(UTC),
        "actor": actor,
        "action": action,
        "subject_id": subject_id,
        "correlation_id": correlation_id,
        "details": details or {},
    }
    chains.append_at_flush(conn, audit_log, AUDIT_CHAIN, content)


def record_operator_action(
    conn: Connection,
    region: str,
    actor: str,
    action: str,
    subject_id: str | None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append an operator's action (command line or admin API): it answers no inbound request,
    so it carries no correlation id."""
    record(conn, region=region, actor=actor, action=action, subject_id=subject_id, details=details)


def entries_about(
    conn: Connection, subject_ids: Iterable[str], actions: Iterable[str]
) -> Sequence[Any]:
    """The entries with one of ``actions`` about one of ``subject_ids``, oldest first: their
    sequence number, action, hash and details."""
    return conn.execute(
        select(audit_log.c.seq, audit_log.c.action, audit_log.c.hash, audit_log.c.details)
        .where(
            audit_log.c.subject_id.in_(sorted(set(subject_ids))),
            audit_log.c.action.in_(list(actions)),
        )
        .order_by(audit_log.c.seq)
    ).all()


def verify(conn: Connection, region: str, head: tuple[str, int] | None) -> chains.ChainBreak | None:
    """Walk the region's audit log against its chain head; the first break, if any."""
    rows = (dict(r._mapping) for r in conn.execute(select(audit_log).order_by(audit_log.c.seq)))
    return chains.verify_entries(f"{region}:audit", rows, AUDIT_CONTENT, head)
