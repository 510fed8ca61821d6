"""In a batch of receipts (a transaction memo is open), the outbox rows the batch queues are
inserted at its end in one statement, in the order they were queued: a fact queued twice, or
queued already by an earlier transaction, is one row (the first), and a receipt rolled back in
its savepoint leaves no row behind."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, select

from inkbridge.store import outbox
from inkbridge.store.chains import memoized_heads
from inkbridge.store.database import Databases
from inkbridge.store.schema import outbox as outbox_table

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)


def _enqueue(conn: Any, key: str, record: str = "envelope:env_1", note: str = "") -> bool:
    return outbox.enqueue(
        conn,
        region="default",
        destination="crm",
        idempotency_key=key,
        record_key=record,
        kind="envelope.state_changed",
        payload={"envelope": {"id": record.split(":")[1]}, "note": note},
        correlation_id=None,
        now=NOW,
    )


def test_a_batch_queues_its_rows_in_one_statement_in_order(databases: Databases) -> None:
    db = databases.home
    with db.transaction() as conn:
        assert _enqueue(conn, "fact-early", note="first")
    inserts: list[str] = []

    def listen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT INTO outbox"):
            inserts.append(statement)

    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        with db.transaction() as conn, memoized_heads(conn):
            _enqueue(conn, "fact-1", record="envelope:env_2")
            _enqueue(conn, "fact-early", note="second")  # queued before: kept as it was
            with pytest.raises(RuntimeError), conn.begin_nested():
                _enqueue(conn, "fact-undone")
                raise RuntimeError("the receipt fails")
            _enqueue(conn, "fact-2")
            _enqueue(conn, "fact-1", record="envelope:env_2")  # the same fact again
            assert inserts == []  # nothing sent before the batch's end
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
    assert len(inserts) == 1
    with db.reader() as conn:
        records = conn.execute(select(outbox_table).order_by(outbox_table.c.id)).all()
        rows = [outbox.outbox_row(conn, record) for record in records]
    assert [row.idempotency_key for row in rows] == ["fact-early", "fact-1", "fact-2"]
    assert rows[0].payload["note"] == "first"


def test_outside_a_batch_a_duplicate_is_told_apart(databases: Databases) -> None:
    with databases.home.transaction() as conn:
        assert _enqueue(conn, "fact-1")
        assert not _enqueue(conn, "fact-1")
