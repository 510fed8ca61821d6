"""On PostgreSQL a worker's batch takes the audit chain's head only at its end: another batch
appends to the audit log and commits meanwhile, the entries of each batch stay together and in
order, and the log verifies. Two batches locking two chain heads in opposite orders deadlock;
PostgreSQL fails one statement, only that receipt's savepoint rolls back, and its retry links
after the other batch's entries. A batch first locks the envelopes it is about, and waits for
another batch only if they share one."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, select, text
from sqlalchemy.exc import OperationalError

from inkbridge.store import audit, batch_locks, chains
from inkbridge.store.database import Databases
from inkbridge.store.schema import audit_log

POSTGRES_ONLY = pytest.mark.parametrize(
    "db_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


# A chained table of the test's own, so the audit log's one chain stays whole.
ENTRIES = Table(
    "test_chained_entries",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("chain", String, nullable=False),
    Column("prev_hash", String, nullable=False),
    Column("hash", String, nullable=False),
)


def _actions(conn: Connection) -> list[str]:
    return list(conn.execute(select(audit_log.c.action).order_by(audit_log.c.seq)).scalars())


@POSTGRES_ONLY
def test_a_batch_holds_the_audit_head_only_from_its_flush(databases: Databases) -> None:
    db = databases.home
    with db.transaction() as first, chains.memoized_heads(first):
        audit.record(first, region="default", actor="test", action="first:1", subject_id="s")
        audit.record(first, region="default", actor="test", action="first:2", subject_id="s")
        # Had the first batch locked the head, this would wait for it (and time out).
        with db.transaction() as second, chains.memoized_heads(second):
            second.execute(text("SET LOCAL lock_timeout = '10s'"))
            audit.record(second, region="default", actor="test", action="second", subject_id="s")
        audit.record(first, region="default", actor="test", action="first:3", subject_id="s")

    with db.reader() as conn:
        assert _actions(conn) == ["second", "first:1", "first:2", "first:3"]
        assert audit.verify(conn, "default", chains.heads(conn)["audit"]) is None


def _append_both(
    databases: Databases, order: tuple[str, str], barrier: threading.Barrier, out: list[str]
) -> None:
    """One batch: in a receipt's savepoint append to both chains, in ``order``; a deadlock
    rolls the savepoint back and the receipt is tried again."""
    db = databases.home
    with db.transaction() as conn, chains.memoized_heads(conn):
        conn.execute(text("SET LOCAL deadlock_timeout = '200ms'"))
        conn.execute(text("SET LOCAL lock_timeout = '20s'"))
        for attempt in range(2):
            try:
                with conn.begin_nested():
                    for chain in order:
                        chains.append(conn, ENTRIES, chain, {"chain": chain})
                        if attempt == 0 and chain == order[0]:
                            barrier.wait(timeout=10)
                out.append("done")
                break
            except OperationalError as exc:
                assert "deadlock" in str(exc).lower()
                out.append("deadlock")
        audit.record(conn, region="default", actor="test", action="batch", subject_id="s")


@POSTGRES_ONLY
def test_opposite_lock_orders_fail_one_receipt_which_is_retried(databases: Databases) -> None:
    ENTRIES.create(databases.home.engine)
    barrier = threading.Barrier(2)
    outcomes: list[list[str]] = [[], []]
    threads = [
        threading.Thread(target=_append_both, args=(databases, order, barrier, out))
        for order, out in zip([("test:x", "test:y"), ("test:y", "test:x")], outcomes, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(map(tuple, outcomes)) == [("deadlock", "done"), ("done",)]

    with databases.home.reader() as conn:
        heads = chains.heads(conn)
        for chain in ("test:x", "test:y"):
            rows = conn.execute(
                select(ENTRIES).where(ENTRIES.c.chain == chain).order_by(ENTRIES.c.id)
            )
            entries = (dict(r._mapping) for r in rows)
            assert heads[chain][1] == 2
            assert chains.verify_entries(chain, entries, ["chain"], heads[chain]) is None
        assert audit.verify(conn, "default", heads["audit"]) is None
        assert _actions(conn).count("batch") == 2


@POSTGRES_ONLY
def test_a_batch_waits_only_for_a_batch_sharing_one_of_its_envelopes(
    databases: Databases,
) -> None:
    db = databases.home
    with db.transaction() as first:
        batch_locks.lock_envelopes(first, ["env_b", "env_a"])
        with db.transaction() as second:
            second.execute(text("SET LOCAL lock_timeout = '500ms'"))
            batch_locks.lock_envelopes(second, ["env_c", "env_d"])
            with pytest.raises(OperationalError, match="lock timeout"):
                batch_locks.lock_envelopes(second, ["env_c", "env_a"])
