"""The sandbox provider's SQLite database: schema, transactions and the outbox queries the
webhook emitter needs. A file when a path is given (WAL, synchronous=FULL, so it survives
kill -9), otherwise memory.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inkbridge.sandbox.sqlite_file import open_state

_SCHEMA = """
CREATE TABLE IF NOT EXISTS envelopes (
    id TEXT PRIMARY KEY,
    template_id TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    delivery_failed INTEGER NOT NULL DEFAULT 0,
    metadata TEXT NOT NULL,
    merge_fields TEXT NOT NULL,
    idempotency_key TEXT UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS recipients (
    envelope_id TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    email TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    viewed_at TEXT,
    signed_at TEXT,
    declined_at TEXT,
    PRIMARY KEY (envelope_id, recipient_id)
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    msg_id TEXT NOT NULL UNIQUE,
    envelope_id TEXT NOT NULL,
    type TEXT NOT NULL,
    recipient_id TEXT,
    recipient_email TEXT,
    occurred_at TEXT NOT NULL,
    body BLOB NOT NULL,
    delivery TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_by_envelope ON events (envelope_id, seq);
CREATE INDEX IF NOT EXISTS events_by_delivery ON events (delivery, seq);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY,
    envelope_id TEXT NOT NULL,
    recipient_id TEXT NOT NULL,
    return_url TEXT,
    used INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    binding TEXT,
    revoked INTEGER NOT NULL DEFAULT 0,
    opened_at TEXT
);
"""

# Columns added after the first release, for state files written before them. A token row
# without a binding opens for no browser.
_ADDED_COLUMNS = {
    "tokens": (
        ("binding", "TEXT"),
        ("revoked", "INTEGER NOT NULL DEFAULT 0"),
        ("opened_at", "TEXT"),
    )
}

# Delivery states of an event row; "pending" rows are what the emitter still owes the receiver.
PENDING, DELIVERED, DROPPED, FAILED = "pending", "delivered", "dropped", "failed"


@dataclass(frozen=True)
class OutgoingEvent:
    """One event row the emitter has to deliver."""

    seq: int
    msg_id: str
    body: bytes
    attempts: int


class ProviderDatabase:
    """One SQLite connection shared by the app and the emitter, guarded by a lock."""

    def __init__(self, path: Path | None) -> None:
        self._conn = open_state(path, _SCHEMA)
        self._lock = threading.RLock()
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        for table, columns in _ADDED_COLUMNS.items():
            present = {row["name"] for row in self._conn.execute(f"PRAGMA table_info({table})")}
            for name, kind in columns:
                if name not in present:
                    self._conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def fetch(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def pending(self, exclude: set[int], limit: int = 100) -> list[OutgoingEvent]:
        """Undelivered events in history order, minus those already being delivered."""
        rows = self.fetch(
            "SELECT seq, msg_id, body, attempts FROM events WHERE delivery = ?"
            " ORDER BY seq LIMIT ?",
            (PENDING, limit + len(exclude)),
        )
        events = [
            OutgoingEvent(r["seq"], r["msg_id"], bytes(r["body"]), r["attempts"])
            for r in rows
            if r["seq"] not in exclude
        ]
        return events[:limit]

    def record_delivery(self, seq: int, delivery: str, attempts: int) -> None:
        with self._lock:
            self._conn.execute(
                "UPDATE events SET delivery = ?, attempts = ? WHERE seq = ?",
                (delivery, attempts, seq),
            )

    def delivery_counts(self) -> dict[str, int]:
        rows = self.fetch("SELECT delivery, COUNT(*) AS n FROM events GROUP BY delivery")
        counts = {PENDING: 0, DELIVERED: 0, DROPPED: 0, FAILED: 0}
        counts.update({r["delivery"]: r["n"] for r in rows})
        return counts
