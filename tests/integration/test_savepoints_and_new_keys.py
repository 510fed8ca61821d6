"""Savepoints sent on the driver's cursor behave as SQLAlchemy's (a rollback to one undoes its
writes and restores the transaction memo; listeners see SAVEPOINT and RELEASE), a new subject's
data key is inserted without being looked for first and still yields to a row that exists
(a shredded key stays shredded), and a driver statement fills in the values it carries itself
and refuses a missing one."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, event, func, literal, select
from sqlalchemy.exc import InvalidRequestError

from inkbridge.bootstrap import Container
from inkbridge.store import data_keys, sealed_fields
from inkbridge.store import envelopes as envelope_store
from inkbridge.store.chains import memoized_heads
from inkbridge.store.driver_statements import DriverStatement
from inkbridge.store.schema import data_keys as data_keys_table
from inkbridge.store.schema import envelopes
from tests.integration.test_driver_statements import envelope_values


def _key_rows(conn: Connection, subject_id: str) -> int:
    count = select(func.count()).where(data_keys_table.c.subject_id == subject_id)
    return int(conn.execute(count).scalar_one())


def _seen(container: Container) -> tuple[list[str], Any]:
    """The statements the engine's listeners see, as their first two words; a savepoint sent by
    SQLAlchemy's execution layer (with an execution context) is marked ``(sqlalchemy)``."""
    seen: list[str] = []

    def listen(
        _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, *_: Any
    ) -> None:
        words = " ".join(statement.split(" ", 2)[:2])
        seen.append(words + (" (sqlalchemy)" if context is not None else ""))

    event.listen(container.databases.home.engine, "before_cursor_execute", listen)
    return seen, listen


def test_a_savepoint_rolled_back_undoes_its_writes_and_the_memo(container: Container) -> None:
    db = container.databases.home
    seen, listen = _seen(container)
    try:
        with db.transaction() as conn, memoized_heads(conn) as memo:
            envelope_store.insert_tracked(conn, envelope_values("env_kept"))
            with pytest.raises(RuntimeError), conn.begin_nested():
                envelope_store.insert_tracked(conn, envelope_values("env_undone"))
                assert ("recipients", "env_undone") in memo.state.reads
                raise RuntimeError("the receipt fails")
            assert ("recipients", "env_undone") not in memo.state.reads
            with conn.begin_nested():
                data_keys.new_subject(conn, ("envelope", "env_released"))
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
    with db.reader() as conn:
        ids = set(conn.execute(select(envelopes.c.id)).scalars())
    assert {"env_kept"} <= ids and "env_undone" not in ids
    assert seen.count("SAVEPOINT sa_savepoint_1") == 1
    assert seen.count("SAVEPOINT sa_savepoint_2") == 1
    # On the driver's cursor, as SAVEPOINT; on PostgreSQL a release waits for the next
    # savepoint, and the commit keeps what the last one wrote (test_savepoint_release.py).
    assert seen.count("RELEASE SAVEPOINT") == (1 if db.is_sqlite else 0)


def test_a_new_subjects_key_is_inserted_without_a_read(container: Container) -> None:
    db = container.databases.home
    seen, listen = _seen(container)
    subject = ("envelope", "env_new_key")
    try:
        with db.transaction() as conn, memoized_heads(conn):
            data_keys.new_subject(conn, subject)
            sealed = sealed_fields.seal_text(conn, subject, "outbox.payload", "{}x")
            again = sealed_fields.seal_text(conn, subject, "outbox.payload", "{}y")
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
    assert not [s for s in seen if s.startswith("SELECT") and "data_keys" in s]
    assert seen.count("INSERT INTO") == 1
    with db.reader() as conn:
        assert _key_rows(conn, "env_new_key") == 1
        assert sealed_fields.open_text(conn, "outbox.payload", sealed) == "{}x"
        assert sealed_fields.open_text(conn, "outbox.payload", again) == "{}y"


def test_a_subject_marked_new_whose_key_exists_gets_that_key(container: Container) -> None:
    db = container.databases.home
    live, shredded = ("envelope", "env_live"), ("envelope", "env_shredded")
    with db.transaction() as conn:
        first = sealed_fields.seal_text(conn, live, "outbox.payload", "before")
        sealed_fields.seal_text(conn, shredded, "outbox.payload", "before")
        assert data_keys.shred_subject(conn, *shredded)
    with db.transaction() as conn, memoized_heads(conn):
        data_keys.new_subject(conn, live)
        data_keys.new_subject(conn, shredded)
        later = sealed_fields.seal_text(conn, live, "outbox.payload", "after")
        assert sealed_fields.seal_text(conn, shredded, "outbox.payload", "after") is None
    assert first is not None and later is not None
    assert first.split(".")[1] == later.split(".")[1]  # the same key
    with db.reader() as conn:
        assert _key_rows(conn, "env_live") == 1 and _key_rows(conn, "env_shredded") == 1
        assert sealed_fields.open_text(conn, "outbox.payload", later) == "after"


def test_a_driver_statement_fills_in_its_own_values_and_refuses_a_missing_one(
    container: Container,
) -> None:
    statement = DriverStatement(
        select(envelopes.c.id, literal("fixed").label("tag")).where(
            envelopes.c.state == "created", envelopes.c.id == literal("env_own")
        )
    )
    needs_id = DriverStatement(envelopes.update().values(state="sent"), column_keys=["id"])
    with container.databases.home.transaction() as conn:
        envelope_store.insert_tracked(conn, envelope_values("env_own"))
        rows = statement.rows(conn, {})
        assert [(row.id, row.tag) for row in rows] == [("env_own", "fixed")]
        with pytest.raises(InvalidRequestError, match="A value is required"):
            needs_id.rowcount(conn, {})
