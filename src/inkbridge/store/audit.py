"""The audit log: append-only, hash-chained, tagged ``source:subject:action``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection

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
    correlation_id: str | None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> int:
    """Append one audit entry in the caller's transaction. Never put personal data in details."""
    content = {
        "region": region,
        "at": at or datetime.now(UTC),
        "actor": actor,
        "action": action,
        "subject_id": subject_id,
        "correlation_id": correlation_id,
        "details": details or {},
    }
    seq, _ = chains.append(conn, audit_log, AUDIT_CHAIN, content)
    return seq
