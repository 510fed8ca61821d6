"""Operator actions: inspect and replay dead letters, reconcile on demand. Each privileged one is
an audit entry ``<source>:<subject>:<action>`` naming who asked (``cli`` or ``token:<id>``)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from inkbridge.config import Settings
from inkbridge.connectors.kinds import COALESCING_KINDS
from inkbridge.domain.queue_states import ReceiptStatus
from inkbridge.errors import InvalidInput
from inkbridge.services.reconcile import Reconciler, ReconcileResult
from inkbridge.store import audit, outbox, receipts
from inkbridge.store.database import Databases, RegionDatabase


def dead_letters(databases: Databases, destination: str | None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for db in databases:
        with db.reader() as conn:
            rows = outbox.list_dead(conn, destination, limit=500)
        found.extend(
            {
                "id": r.id,
                "region": r.region,
                "destination": r.destination,
                "fact": r.idempotency_key,
                "record": r.record_key,
                "kind": r.kind,
                "attempts": r.attempts,
                "correlation_id": r.correlation_id,
                "last_error": r.last_error,
                "created_at": r.created_at.isoformat(),
            }
            for r in rows
        )
    return found


def coalescing_destinations(settings: Settings) -> frozenset[str]:
    """Destinations that hold records (upserts), not event streams: every kind but webhooks."""
    return frozenset(name for name, d in settings.destinations.items() if d.kind != "webhook")


def replay_dead_letters(
    databases: Databases,
    ids: list[int] | None,
    destination: str | None,
    coalescing: frozenset[str] = frozenset(),
    *,
    source: str = "api",
    actor: str = "admin",
    action: str = "replayed",
    region: str | None = None,
) -> int:
    """Give dead letters a fresh attempt budget; the delivery loop sends them in record order.
    ``ids`` None: every dead letter (of ``destination``, when named) in every region, or in
    ``region`` only, each region's replay one audit entry ``<source>:dead_letters:<action>``
    with its count. Outbox ids are numbered per region, so ids need ``region`` as soon as more
    than one region is configured: the same id names a different change in each."""
    if region is not None and region not in databases.names:
        raise InvalidInput(f"unknown region {region!r}", field="region")
    if ids is not None and region is None and len(databases.names) > 1:
        raise InvalidInput("outbox ids are numbered per region: name the region", field="region")
    total = 0
    for db in databases:
        if region is not None and db.region != region:
            continue
        total += _retry_dead(
            db,
            ids,
            destination,
            coalescing,
            actor=actor,
            action=f"{source}:dead_letters:{action}",
            subject=destination,
            details={"ids": ids},
        )
    return total


def replay_dead_letter(
    databases: Databases,
    region: str,
    outbox_id: int,
    coalescing: frozenset[str] = frozenset(),
    *,
    source: str,
    actor: str,
) -> bool:
    """Replay one dead letter of one region (outbox ids are per region); False when that region
    has no such dead letter (already replayed, or superseded by a newer delivered change)."""
    if region not in databases.names:
        return False
    count = _retry_dead(
        databases[region],
        [outbox_id],
        None,
        coalescing,
        actor=actor,
        action=f"{source}:dead_letters:replayed",
        subject=str(outbox_id),
        details={"ids": [outbox_id], "region": region},
    )
    return count > 0


def _retry_dead(
    db: RegionDatabase,
    ids: list[int] | None,
    destination: str | None,
    coalescing: frozenset[str],
    *,
    actor: str,
    action: str,
    subject: str | None,
    details: dict[str, Any],
) -> int:
    """Retry one region's dead letters (``ids``, else all of ``destination``, else all) and,
    when any were, audit it in the same transaction with their count; the number retried."""
    with db.transaction() as conn:
        count = outbox.retry_dead(
            conn,
            datetime.now(UTC),
            ids=ids,
            destination=destination,
            coalescing=coalescing,
            coalescing_kinds=COALESCING_KINDS,
        )
        if count:
            audit.record_operator_action(
                conn, db.region, actor, action, subject, {"count": count, **details}
            )
    return count


async def reconcile_now(
    databases: Databases, reconciler: Reconciler, *, source: str, actor: str, limit: int
) -> dict[str, ReconcileResult]:
    """Reconcile every region now (an operator's request, unlike the worker's own rounds)."""
    results: dict[str, ReconcileResult] = {}
    for db in databases:
        result = await reconciler.reconcile_once(db, limit=limit)
        results[db.region] = result
        with db.transaction() as conn:
            audit.record_operator_action(
                conn,
                db.region,
                actor,
                f"{source}:reconcile:requested",
                None,
                dataclasses.asdict(result),
            )
    return results


def parked_receipts(
    databases: Databases, status: ReceiptStatus, limit: int = 500
) -> list[dict[str, Any]]:
    """Receipts parked in ``status`` in every region, newest first: where and when each came in
    and why it is parked; never its body or headers."""
    found: list[receipts.ParkedReceipt] = []
    for db in databases:
        with db.reader() as conn:
            found.extend(receipts.parked(conn, status, limit=limit))
    found.sort(key=lambda r: r.received_at, reverse=True)
    return [
        {
            "id": r.id,
            "region": r.region,
            "connection": r.connection,
            "source": r.source,
            "status": status.value,
            "reason": r.reason,
            "received_at": r.received_at.isoformat(),
            "processed_at": r.processed_at.isoformat() if r.processed_at else None,
        }
        for r in found[:limit]
    ]
