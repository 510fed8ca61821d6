"""Copies of a region's SQLite database file: an online backup (SQLite's backup API, a
consistent snapshot while the server writes) that carries a marker naming its region, and the
restore of such a copy into the region's database.

A backup is written beside its target as ``*.partial`` and renamed when complete, so a file at
the target path is always a whole backup. It is a single rollback-journal file (no ``-wal``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

MARKER_TABLE = "inkbridge_backup"
TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class BackupMarker:
    """What a backup says about itself."""

    region: str
    taken_at: str
    revision: str | None


class NotABackup(Exception):
    """The file is no inkbridge backup (no marker, or not a database)."""


def _revision(conn: sqlite3.Connection) -> str | None:
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError:
        return None
    return str(row[0]) if row else None


def backup(source: Path, target: Path, region: str) -> BackupMarker:
    """Copy the database at ``source`` to ``target`` (which must not exist) and mark the copy
    as a backup of ``region``."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(source, timeout=TIMEOUT_SECONDS)
    try:
        dst = sqlite3.connect(partial)
        try:
            # One step: the copy is read under one read transaction, a snapshot of a commit.
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
            marker = BackupMarker(region, datetime.now(UTC).isoformat(), _revision(dst))
            dst.execute(
                f"CREATE TABLE {MARKER_TABLE} (region TEXT NOT NULL, taken_at TEXT NOT NULL, "
                "revision TEXT)"
            )
            dst.execute(
                f"INSERT INTO {MARKER_TABLE} VALUES (?, ?, ?)",  # noqa: S608 - a constant name
                (marker.region, marker.taken_at, marker.revision),
            )
            dst.commit()
        finally:
            dst.close()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    os.replace(partial, target)
    return marker


def read_marker(path: Path) -> BackupMarker:
    """The marker of the backup at ``path``; ``NotABackup`` when it has none."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise NotABackup(str(exc)) from None
    try:
        row = conn.execute(
            f"SELECT region, taken_at, revision FROM {MARKER_TABLE}"  # noqa: S608
        ).fetchone()
        check = conn.execute("PRAGMA quick_check").fetchone()
    except sqlite3.DatabaseError:
        raise NotABackup("no backup marker: not an inkbridge backup") from None
    finally:
        conn.close()
    if row is None:
        raise NotABackup("the backup marker is empty")
    if check is None or check[0] != "ok":
        raise NotABackup("the file fails SQLite's integrity check")
    return BackupMarker(str(row[0]), str(row[1]), row[2])


def restore(backup_path: Path, database: Path) -> None:
    """Replace the database at ``database`` with the backup's content, marker removed, back in
    WAL mode as the engines open it."""
    database.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{backup_path}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(database, timeout=TIMEOUT_SECONDS)
        try:
            src.backup(dst)
            dst.execute(f"DROP TABLE {MARKER_TABLE}")
            dst.commit()
            with contextlib.closing(dst.execute("PRAGMA journal_mode=WAL")):
                pass
        finally:
            dst.close()
    finally:
        src.close()
