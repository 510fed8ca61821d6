"""A reader sees one snapshot for all its statements, on SQLite and PostgreSQL: a view read in
several queries (an envelope, then its timeline) never mixes a state from before a worker's
commit with events from after it."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from inkbridge.store.database import Databases
from inkbridge.store.schema import outbox
from tests.support.outbox_rows import insert_change


def _count(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(outbox)).scalar_one())


def _commit_a_change(databases: Databases, key: str) -> None:
    home = databases.home
    insert_change(home, region=home.region, destination="crm", key=key)


def test_a_commit_made_while_a_reader_reads_is_not_seen_by_its_later_statements(
    databases: Databases,
) -> None:
    _commit_a_change(databases, "before")
    with databases.home.reader() as conn:
        assert _count(conn) == 1
        if databases.home.is_postgres:
            # SQLite's reader holds the write lock for its transaction: no writer gets in.
            _commit_a_change(databases, "during")
        assert _count(conn) == 1
    with databases.home.reader() as conn:
        assert _count(conn) == (2 if databases.home.is_postgres else 1)
