"""A SQLite transaction that need not wait for the disk (``durable=False``, delivery's settles)
commits with ``synchronous=NORMAL``, and its connection goes back to the pool at FULL again,
whether the transaction committed or rolled back: no later writer inherits the relaxed level."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Connection, select

from inkbridge.store import migrate
from inkbridge.store.database import Databases, RegionDatabase
from inkbridge.store.schema import destination_quota

NORMAL, FULL = 1, 2
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def db(sqlite_url: str) -> Iterator[RegionDatabase]:
    dbs = Databases({"default": sqlite_url}, home_region="default")
    migrate.upgrade_all(dbs)
    yield dbs.home
    dbs.dispose()


def _level(raw: Any) -> int:
    return int(raw.execute("PRAGMA synchronous").fetchone()[0])


def _insert(conn: Connection, key: str) -> None:
    conn.execute(
        destination_quota.insert(), {"destination": key, "tokens": 1.0, "refilled_at": NOW}
    )


def _note(db: RegionDatabase, key: str, *, durable: bool) -> sqlite3.Connection:
    """Write one row in a transaction; returns the driver connection it ran on."""
    with db.transaction(durable=durable) as conn:
        raw = conn.connection.driver_connection
        assert _level(raw) == (FULL if durable else NORMAL)
        _insert(conn, key)
    assert isinstance(raw, sqlite3.Connection)
    return raw


def _stored(db: RegionDatabase) -> list[str]:
    with db.reader() as conn:
        return list(conn.execute(select(destination_quota.c.destination)).scalars())


def test_a_relaxed_commit_is_committed_and_leaves_its_connection_at_full(
    db: RegionDatabase,
) -> None:
    raw = _note(db, "relaxed", durable=False)

    assert _level(raw) == FULL
    assert _note(db, "durable", durable=True) is raw  # the pool hands the same one back
    assert sorted(_stored(db)) == ["durable", "relaxed"]


def test_a_relaxed_transaction_that_fails_rolls_back_and_is_set_back_to_full(
    db: RegionDatabase,
) -> None:
    seen: list[Any] = []
    with pytest.raises(RuntimeError), db.transaction(durable=False) as conn:
        seen.append(conn.connection.driver_connection)
        _insert(conn, "lost")
        raise RuntimeError("midway")

    assert _level(seen[0]) == FULL
    assert _stored(db) == []
