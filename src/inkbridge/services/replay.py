"""Rebuilding envelope state from the event log alone, and checking the hash chains."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row

from inkbridge.domain.lifecycle import EnvelopeSnapshot, replay
from inkbridge.store import audit, batch_locks, chains, envelope_histories, event_log
from inkbridge.store import envelopes as envelope_store
from inkbridge.store.database import Databases, RegionDatabase

# Envelopes found wrong are written this many to a transaction.
WRITE_BATCH = 500
# The progress callback is told every this many envelopes (and at each region's end).
PROGRESS_EVERY = 1000
# A rebuild of one envelope the worker keeps changing is tried this many times.
ATTEMPTS = 3


@dataclass
class ReplayReport:
    envelopes: int = 0
    changed: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Rebuilt:
    """An envelope whose event log folds to another snapshot than the one its row holds."""

    row: Row[Any]
    current: EnvelopeSnapshot
    rebuilt: EnvelopeSnapshot


def rebuild_envelope(db: RegionDatabase, envelope_id: str) -> bool:
    """Fold the envelope's event log into a snapshot and store it; True if it differed."""
    for _ in range(ATTEMPTS):
        with db.transaction() as conn:
            row = envelope_store.get(conn, envelope_id)
            if row is None:
                return False
            history = [
                event_log.as_normalized(e, row.provider, row.provider_envelope_id or "")
                for e in event_log.for_envelope(conn, envelope_id)
            ]
            rebuilt = replay(envelope_id, history)
            current = envelope_store.snapshot_of(
                row, envelope_store.recipient_rows(conn, envelope_id)
            )
            if _same(rebuilt, current):
                return False
            if _write(conn, db.region, _Rebuilt(row, current, rebuilt)):
                return True
        # A worker's commit came between the read and the write (PostgreSQL): read again.
    return False


def _write(conn: Connection, region: str, item: _Rebuilt) -> bool:
    """Store the rebuilt snapshot over the row it was compared with, its recipients and the
    audit entry; False (nothing written) if the row has changed since."""
    now = datetime.now(UTC)
    if not envelope_store.save_snapshot(conn, item.rebuilt, current=item.row, now=now):
        return False
    for recipient_id, status in item.rebuilt.recipients.items():
        envelope_store.upsert_recipient(conn, item.row, recipient_id, status, now)
    audit.record(
        conn,
        region=region,
        actor="cli",
        action="replay:envelope:rebuilt",
        subject_id=item.row.id,
        correlation_id=item.row.correlation_id,
        details={"from": item.current.state.value, "to": item.rebuilt.state.value},
    )
    return True


def _same(a: EnvelopeSnapshot, b: EnvelopeSnapshot) -> bool:
    return (
        a.state == b.state
        and a.milestones == b.milestones
        and a.delivery_failed == b.delivery_failed
        and a.conflicts == b.conflicts
        and {k: v for k, v in a.recipients.items()}
        == {k: v for k, v in b.recipients.items() if k in a.recipients}
    )


def _fold(history: envelope_histories.EnvelopeHistory) -> EnvelopeSnapshot:
    row = history.envelope
    provider, reference = row.provider, row.provider_envelope_id or ""
    return replay(row.id, [event_log.as_normalized(e, provider, reference) for e in history.events])


def _write_batch(db: RegionDatabase, batch: list[_Rebuilt]) -> list[str]:
    """Write a batch in one transaction; the ids written, in the batch's order. An envelope a
    worker changed since the snapshot is rebuilt again alone from what the worker committed
    (the compare-and-set refused to write over it)."""
    if not batch:
        return []
    lost: set[str] = set()
    with db.transaction() as conn, chains.memoized_heads(conn):
        # Locked as a worker's batch locks them: its envelopes first, in the one order every
        # batch uses, the audit chain's head at the end (see services.processing).
        batch_locks.lock_envelopes(
            conn, [i.row.provider_envelope_id for i in batch if i.row.provider_envelope_id]
        )
        for item in batch:
            if not _write(conn, db.region, item):
                lost.add(item.row.id)
    again = {envelope_id for envelope_id in sorted(lost) if rebuild_envelope(db, envelope_id)}
    return [i.row.id for i in batch if i.row.id not in lost or i.row.id in again]


def rebuild_region(
    db: RegionDatabase,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = WRITE_BATCH,
    progress_every: int = PROGRESS_EVERY,
) -> ReplayReport:
    """Stream the region's envelopes with their event logs in one snapshot, fold each and
    write the ones that differ, ``batch_size`` to a transaction; ``progress`` hears of every
    ``progress_every`` envelopes read, and of the last."""
    report = ReplayReport()
    pending: list[_Rebuilt] = []
    with db.snapshot() as conn:
        total = envelope_histories.count(conn)
        for history in envelope_histories.stream(conn):
            rebuilt = _fold(history)
            current = envelope_store.snapshot_from(history.envelope, history.statuses)
            if not _same(rebuilt, current):
                pending.append(_Rebuilt(history.envelope, current, rebuilt))
                if len(pending) >= batch_size:
                    report.changed += _write_batch(db, pending)
                    pending = []
            report.envelopes += 1
            if progress is not None and report.envelopes % progress_every == 0:
                progress(report.envelopes, total)
        report.changed += _write_batch(db, pending)
    if progress is not None:
        progress(report.envelopes, max(total, report.envelopes))
    return report


def rebuild_all(
    databases: Databases, progress: Callable[[int, int], None] | None = None
) -> ReplayReport:
    """Rebuild every region's envelopes from their event logs; ``changed`` lists the ones
    corrected, region by region in envelope id order."""
    report = ReplayReport()
    for db in databases:
        region = rebuild_region(db, progress)
        report.envelopes += region.envelopes
        report.changed += region.changed
    return report


def verify_chains(databases: Databases) -> list[chains.ChainBreak]:
    """Check the audit log of every region and the event log of every envelope."""
    breaks: list[chains.ChainBreak] = []
    for db in databases:
        with db.reader() as conn:
            heads = chains.heads(conn)
            found = audit.verify(conn, db.region, heads.get(audit.AUDIT_CHAIN, ("0" * 64, 0)))
            if found:
                breaks.append(found)
            for envelope_id in envelope_store.list_ids(conn):
                head = heads.get(event_log.chain_name(envelope_id), ("0" * 64, 0))
                found = event_log.verify(conn, db.region, envelope_id, head)
                if found:
                    breaks.append(found)
    return breaks
