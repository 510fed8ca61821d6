"""The sandbox CRM's records and write log in SQLite.

A file database runs in WAL mode with ``synchronous=FULL`` and commits once per batch, so
whatever the CRM acknowledged survives ``kill -9``: acceptance tests compare it with inkbridge's
outbox after a crash. Without a path the same schema lives in memory.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inkbridge.sandbox.sqlite_file import open_state

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id TEXT PRIMARY KEY,
    properties TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS writes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL,
    facts TEXT NOT NULL,
    properties TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS writes_by_record ON writes (record_id, seq);
CREATE TABLE IF NOT EXISTS erasures (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    lead_id TEXT NOT NULL,
    deleted INTEGER NOT NULL,
    at TEXT NOT NULL
);
"""

# Properties with this prefix are attribution frozen at first touch: written once, never again.
FIRST_TOUCH_PREFIX = "first_touch_"


@dataclass(frozen=True)
class UpsertInput:
    record_id: str
    properties: Mapping[str, Any]
    facts: Sequence[str] = field(default_factory=tuple)


def _is_empty(value: Any) -> bool:
    return value is None or value == ""


def merge_properties(current: Mapping[str, Any], incoming: Mapping[str, Any]) -> dict[str, Any]:
    """Incoming values overwrite, except first-touch ones, which only fill empty slots."""
    merged = dict(current)
    for key, value in incoming.items():
        if key.startswith(FIRST_TOUCH_PREFIX) and not _is_empty(merged.get(key)):
            continue
        merged[key] = value
    return merged


class CrmStore:
    """Records upserted by id, and an append-only log of every input that reached the CRM."""

    def __init__(self, path: Path | None) -> None:
        self._conn = open_state(path, _SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def upsert(self, inputs: Sequence[UpsertInput]) -> list[dict[str, Any]]:
        """Apply a batch in one transaction, in input order; returns the records as stored."""
        now = datetime.now(UTC).isoformat()
        out: list[dict[str, Any]] = []
        with self._lock:
            db = self._conn
            db.execute("BEGIN IMMEDIATE")
            try:
                for item in inputs:
                    row = db.execute(
                        "SELECT properties, created_at FROM records WHERE id = ?",
                        (item.record_id,),
                    ).fetchone()
                    current = json.loads(row["properties"]) if row is not None else {}
                    merged = merge_properties(current, item.properties)
                    created_at = row["created_at"] if row is not None else now
                    db.execute(
                        "INSERT INTO records (id, properties, created_at, updated_at)"
                        " VALUES (?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
                        " properties = excluded.properties, updated_at = excluded.updated_at",
                        (item.record_id, json.dumps(merged), created_at, now),
                    )
                    db.execute(
                        "INSERT INTO writes (record_id, facts, properties, at) VALUES (?, ?, ?, ?)",
                        (
                            item.record_id,
                            json.dumps(list(item.facts)),
                            json.dumps(dict(item.properties)),
                            now,
                        ),
                    )
                    out.append(
                        {
                            "id": item.record_id,
                            "properties": merged,
                            "createdAt": created_at,
                            "updatedAt": now,
                            "new": row is None,
                        }
                    )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return out

    def records(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute("SELECT * FROM records ORDER BY created_at, id").fetchall()
        return [_record(r) for r in rows]

    def record(self, record_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute("SELECT * FROM records WHERE id = ?", (record_id,)).fetchone()
        return _record(row) if row is not None else None

    def writes(self, record_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            if record_id is None:
                rows = self._conn.execute("SELECT * FROM writes ORDER BY seq").fetchall()
            else:
                rows = self._conn.execute(
                    "SELECT * FROM writes WHERE record_id = ? ORDER BY seq", (record_id,)
                ).fetchall()
        return [
            {
                "seq": r["seq"],
                "record_id": r["record_id"],
                "facts": json.loads(r["facts"]),
                "properties": json.loads(r["properties"]),
                "at": r["at"],
            }
            for r in rows
        ]

    def records_naming(self, lead_id: str) -> list[str]:
        """The ids of the lead's record and of every record naming the lead (as ``erase``)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id FROM records WHERE id = ?"
                " OR json_extract(properties, '$.inkbridge_lead_id') = ? ORDER BY created_at, id",
                (f"lead:{lead_id}", lead_id),
            ).fetchall()
        return [str(r["id"]) for r in rows]

    def erase(self, lead_id: str) -> int:
        """Delete the person: the lead's record, every record naming the lead, and their
        write log; the call itself is logged (lead id only). Returns the records deleted."""
        now = datetime.now(UTC).isoformat()
        with self._lock:
            db = self._conn
            db.execute("BEGIN IMMEDIATE")
            try:
                ids = [
                    r["id"]
                    for r in db.execute(
                        "SELECT id FROM records WHERE id = ?"
                        " OR json_extract(properties, '$.inkbridge_lead_id') = ?",
                        (f"lead:{lead_id}", lead_id),
                    )
                ]
                for record_id in ids:
                    db.execute("DELETE FROM records WHERE id = ?", (record_id,))
                    db.execute("DELETE FROM writes WHERE record_id = ?", (record_id,))
                db.execute(
                    "INSERT INTO erasures (lead_id, deleted, at) VALUES (?, ?, ?)",
                    (lead_id, len(ids), now),
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        return len(ids)

    def erasures(self) -> list[dict[str, Any]]:
        """Every erasure call that reached the CRM, oldest first."""
        with self._lock:
            rows = self._conn.execute("SELECT * FROM erasures ORDER BY seq").fetchall()
        return [{"lead_id": r["lead_id"], "deleted": r["deleted"], "at": r["at"]} for r in rows]

    def reset(self) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM records")
            self._conn.execute("DELETE FROM writes")
            self._conn.execute("DELETE FROM erasures")


def _record(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "properties": json.loads(row["properties"]),
        "createdAt": row["created_at"],
        "updatedAt": row["updated_at"],
    }
