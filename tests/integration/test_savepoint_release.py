"""A worker's receipts follow each other in savepoints. On PostgreSQL a savepoint's RELEASE
waits for the connection's next SAVEPOINT and goes with it in one round trip; a release still
waiting when the transaction ends, or when it rolls back to an enclosing savepoint, is dropped.
What each savepoint wrote is kept or undone exactly as before, and nothing waiting leaks into
the connection's next transaction. On SQLite every statement is its own, as before."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Connection, event, select

from inkbridge.bootstrap import Container
from inkbridge.store import envelopes as envelope_store
from inkbridge.store.schema import envelopes
from tests.integration.test_driver_statements import envelope_values


@contextmanager
def _statements(container: Container) -> Iterator[list[str]]:
    """The statements the engine's listeners see while the block runs."""
    seen: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    engine = container.databases.home.engine
    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def _savepoint_statements(seen: list[str]) -> list[str]:
    return [s for s in seen if "SAVEPOINT" in s]


def _insert(conn: Connection, envelope_id: str) -> None:
    envelope_store.insert_tracked(conn, envelope_values(envelope_id))


def _stored(container: Container) -> set[str]:
    with container.databases.home.reader() as conn:
        return set(conn.execute(select(envelopes.c.id)).scalars())


def test_consecutive_savepoints_cost_one_statement_each(container: Container) -> None:
    db = container.databases.home
    with _statements(container) as seen, db.transaction() as conn:
        for n in range(5):
            with conn.begin_nested():
                _insert(conn, f"env_{n}")
    sent = _savepoint_statements(seen)
    if db.is_sqlite:
        assert len(sent) == 10
    else:
        # The first SAVEPOINT alone, then each RELEASE with the next SAVEPOINT; the last
        # release is dropped at the commit, which keeps what its savepoint wrote.
        assert len(sent) == 5
        assert sent[0].startswith("SAVEPOINT")
        assert all(s.startswith("RELEASE SAVEPOINT") and "; SAVEPOINT" in s for s in sent[1:])
    assert {f"env_{n}" for n in range(5)} <= _stored(container)


def test_a_rollback_after_a_released_savepoint_undoes_only_its_own(
    container: Container,
) -> None:
    db = container.databases.home
    with db.transaction() as conn:
        with conn.begin_nested():
            _insert(conn, "env_kept")
        # A receipt whose savepoint holds another, released, then fails as a whole.
        with pytest.raises(RuntimeError), conn.begin_nested():
            with conn.begin_nested():
                _insert(conn, "env_inner")
            _insert(conn, "env_outer")
            raise RuntimeError("the receipt fails")
        # The next receipt's savepoint sends no release of the one rolled back.
        with conn.begin_nested():
            _insert(conn, "env_next")
        # Released inside an enclosing savepoint, then the enclosing one released too.
        with conn.begin_nested(), conn.begin_nested():
            _insert(conn, "env_nested")
        with conn.begin_nested():
            _insert(conn, "env_last")
    stored = _stored(container)
    assert {"env_kept", "env_next", "env_nested", "env_last"} <= stored
    assert not {"env_inner", "env_outer"} & stored


@pytest.mark.parametrize("ending", ["commit", "rollback"])
def test_a_release_left_waiting_does_not_reach_the_next_transaction(
    container: Container, ending: str
) -> None:
    db = container.databases.home
    conn = db.engine.connect()
    try:
        transaction = conn.begin()
        with conn.begin_nested():
            _insert(conn, f"env_{ending}_first")
        getattr(transaction, ending)()
        with _statements(container) as seen, conn.begin(), conn.begin_nested():
            _insert(conn, f"env_{ending}_second")
        assert _savepoint_statements(seen)[0].startswith("SAVEPOINT")
    finally:
        conn.close()
    stored = _stored(container)
    assert f"env_{ending}_second" in stored
    assert (f"env_{ending}_first" in stored) is (ending == "commit")
