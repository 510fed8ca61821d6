"""What ``inkbridge golive`` may do to a deployment beyond capturing and erasing its test leads:
replay the dead letters of one of its test leads (never anyone else's), and leave an audit entry
``golive:faults:set`` for each fault it sets on a sandbox destination."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from inkbridge.connectors.kinds import COALESCING_KINDS
from inkbridge.domain.queue_states import OutboxStatus
from inkbridge.services.golive_namespace import find_test_lead
from inkbridge.store import audit, outbox
from inkbridge.store.database import Databases
from inkbridge.store.schema import outbox as outbox_table


def replay_test_dead_letters(
    databases: Databases, lead_id: str, coalescing: frozenset[str], *, actor: str
) -> list[int]:
    """Give every dead letter of a go-live test lead (its correlation id's outbox rows) a fresh
    attempt budget, in the lead's region only; returns their ids. One audit entry
    ``golive:dead_letters:replayed`` names them."""
    region, lead = find_test_lead(databases, lead_id)
    db = databases[region]
    with db.transaction() as conn:
        ids = [
            int(row.id)
            for row in conn.execute(
                select(outbox_table.c.id).where(
                    outbox_table.c.correlation_id == lead["correlation_id"],
                    outbox_table.c.status == OutboxStatus.DEAD,
                )
            )
        ]
        if not ids:
            return []
        outbox.retry_dead(
            conn,
            datetime.now(UTC),
            ids=ids,
            coalescing=coalescing,
            coalescing_kinds=COALESCING_KINDS,
        )
        audit.record_operator_action(
            conn, region, actor, "golive:dead_letters:replayed", lead_id, {"ids": ids}
        )
    return ids


def record_fault(databases: Databases, destination: str, fault: dict[str, Any], actor: str) -> None:
    """The audit entry of a fault golive set on a sandbox destination (home region)."""
    db = databases.home
    with db.transaction() as conn:
        audit.record_operator_action(
            conn, db.region, actor, "golive:faults:set", destination, fault
        )
