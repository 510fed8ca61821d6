"""Sealing an upgraded region's plain personal data: every row written before encryption at
rest is walked table by table in short transactions (one per batch), its plain values sealed
under the subject's key, then the SQLite file is compacted so no plain copy stays behind, and
the run is audited. Running it again seals nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from inkbridge.store import audit, legacy_sealing
from inkbridge.store.database import RegionDatabase

BATCH = 500

_WALKS: tuple[Callable[[Connection, Any, int], legacy_sealing.Batch], ...] = (
    legacy_sealing.seal_leads,
    legacy_sealing.seal_touchpoints,
    legacy_sealing.seal_envelopes,
    legacy_sealing.seal_receipts,
    legacy_sealing.seal_outbox,
)


@dataclass(frozen=True)
class Sealing:
    region: str
    sealed: dict[str, int]  # per column (JSON columns and receipts: per row), every column named
    log_emptied: bool  # SQLite: the write-ahead log was emptied after the file was compacted

    @property
    def total(self) -> int:
        return sum(self.sealed.values())


def seal_region(db: RegionDatabase, *, batch: int = BATCH, actor: str = "cli") -> Sealing:
    if batch < 1:
        raise ValueError("the batch size must be at least 1")
    sealed: Counter[str] = Counter()
    for walk in _WALKS:
        after: Any = None
        while True:
            with db.transaction() as conn:
                done = walk(conn, after, batch)
            sealed.update(done.sealed)
            if done.after is None:
                break
            after = done.after
    # Compacting rewrites the whole file: only worth it when something was rewritten; a run
    # after one whose log stayed held open still empties the log.
    total = sum(sealed.values())
    emptied = legacy_sealing.compact_sqlite(db) if total else db.truncate_wal(wait_ms=2000)
    counts = {column: sealed[column] for column in legacy_sealing.COLUMNS}
    with db.transaction() as conn:
        audit.record_operator_action(
            conn,
            db.region,
            actor,
            "cli:keys:sealed",
            db.region,
            details={"sealed": {k: v for k, v in counts.items() if v}, "total": total},
        )
    return Sealing(db.region, counts, emptied)
