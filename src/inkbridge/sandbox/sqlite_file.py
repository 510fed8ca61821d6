"""How the sandbox's SQLite stores open their file: one connection shared across threads,
explicit transactions, and a durable journal when the state lives on disk."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def open_state(path: Path | None, schema: str) -> sqlite3.Connection:
    """Open ``path`` (in memory when None) with ``schema`` applied.

    ``isolation_level=None`` leaves transactions to the caller (``BEGIN IMMEDIATE``), so
    check-then-write sequences such as single-use token redemption are atomic.
    """
    target = str(path) if path is not None else ":memory:"
    conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    if path is not None:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    conn.executescript(schema)
    return conn
