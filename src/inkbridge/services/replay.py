"""Rebuilding envelope state from the event log alone, and checking the hash chains."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from inkbridge.domain.lifecycle import EnvelopeSnapshot, replay
from inkbridge.store import audit, chains, event_log
from inkbridge.store import envelopes as envelope_store
from inkbridge.store.database import Databases, RegionDatabase


@dataclass
class ReplayReport:
    envelopes: int = 0
    changed: list[str] = field(default_factory=list)


def rebuild_envelope(db: RegionDatabase, envelope_id: str) -> bool:
    """Fold the envelope's event log into a snapshot and store it; True if it differed."""
    with db.transaction() as conn:
        row = envelope_store.get(conn, envelope_id)
        if row is None:
            return False
        history = [
            event_log.as_normalized(e, row.provider, row.provider_envelope_id or "")
            for e in event_log.for_envelope(conn, envelope_id)
        ]
        rebuilt = replay(envelope_id, history)
        current = envelope_store.snapshot_of(row, envelope_store.recipient_rows(conn, envelope_id))
        if _same(rebuilt, current):
            return False
        envelope_store.save_snapshot(
            conn,
            rebuilt,
            current=row,
            now=datetime.now(UTC),
        )
        now = datetime.now(UTC)
        for recipient_id, status in rebuilt.recipients.items():
            envelope_store.upsert_recipient(conn, row, recipient_id, status, now)
        audit.record(
            conn,
            region=db.region,
            actor="cli",
            action="replay:envelope:rebuilt",
            subject_id=envelope_id,
            correlation_id=row.correlation_id,
            details={"from": current.state.value, "to": rebuilt.state.value},
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


def rebuild_all(
    databases: Databases, progress: Callable[[int, int], None] | None = None
) -> ReplayReport:
    report = ReplayReport()
    for db in databases:
        with db.reader() as conn:
            ids = envelope_store.list_ids(conn)
        for index, envelope_id in enumerate(ids, start=1):
            if rebuild_envelope(db, envelope_id):
                report.changed.append(envelope_id)
            report.envelopes += 1
            if progress is not None:
                progress(index, len(ids))
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
