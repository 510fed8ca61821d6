"""A worker's batch reads each chain head once and writes it back once, before its commit; a
receipt whose savepoint rolls back in the middle of the batch takes its appends (and the data
keys it created) with it, and every chain still verifies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, event, select, update

from inkbridge.bootstrap import Container
from inkbridge.domain.chain import GENESIS
from inkbridge.privacy.field_cipher import key_id_of
from inkbridge.services.replay import verify_chains
from inkbridge.services.unit_of_work import EnvelopeFact
from inkbridge.store import audit, chains, sealed_fields
from inkbridge.store.schema import audit_log, data_keys, webhook_receipts
from inkbridge.store.transaction_memo import memo_of
from tests.support.worker import drain_receipts, one_batch_of_lifecycles

T0 = datetime.now(UTC) - timedelta(hours=2)


class Failed(Exception):
    """The failure a test handler injects."""


def _audit(conn: Connection, action: str) -> None:
    audit.record(conn, region="default", actor="test", action=action, subject_id="s")


def _head_statements(db_engine: Any) -> tuple[list[str], Any]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if "chain_heads" in statement:
            seen.append(statement.split(None, 1)[0].upper())

    event.listen(db_engine, "before_cursor_execute", count)
    return seen, count


def test_a_rolled_back_savepoint_takes_its_head_moves_with_it(container: Container) -> None:
    db = container.databases.home
    seen, listener = _head_statements(db.engine)
    try:
        with db.transaction() as conn, chains.memoized_heads(conn):
            _audit(conn, "test:entry:first")
            with pytest.raises(Failed), conn.begin_nested():
                _audit(conn, "test:entry:rolled_back")
                chains.hold(conn, "test:new")  # a chain first seen in the savepoint
                raise Failed
            _audit(conn, "test:entry:second")
            chains.hold(conn, "test:new")  # read (and created) again: the first went
            _audit(conn, "test:entry:third")
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)

    assert seen.count("UPDATE") == 1  # the audit head, once, at the end of the block
    with db.reader() as conn:
        actions = conn.execute(select(audit_log.c.action).order_by(audit_log.c.seq)).scalars()
        assert list(actions) == ["test:entry:first", "test:entry:second", "test:entry:third"]
        heads = chains.heads(conn)
        assert heads["audit"][1] == 3
        assert heads["test:new"] == (GENESIS, 0)
        assert audit.verify(conn, "default", heads["audit"]) is None
        assert memo_of(conn) is None


def test_a_data_key_created_in_a_rolled_back_savepoint_is_not_used_again(
    container: Container,
) -> None:
    db = container.databases.home
    subject = ("envelope", "env_key")
    with db.transaction() as conn, chains.memoized_heads(conn):
        with pytest.raises(Failed), conn.begin_nested():
            lost = sealed_fields.seal_text(conn, subject, "recipients.email", "a@example.com")
            raise Failed
        kept = sealed_fields.seal_text(conn, subject, "recipients.email", "b@example.com")
        again = sealed_fields.seal_text(conn, subject, "recipients.email", "c@example.com")
    assert lost and kept and again
    assert key_id_of(lost) != key_id_of(kept) == key_id_of(again)
    with db.reader() as conn:
        keys = conn.execute(select(data_keys.c.id).where(data_keys.c.subject_id == "env_key"))
        assert len(keys.all()) == 1
        assert sealed_fields.open_text(conn, "recipients.email", kept) == "b@example.com"
        assert sealed_fields.open_text(conn, "recipients.email", again) == "c@example.com"
        assert sealed_fields.open_text(conn, "recipients.email", lost) is None


def test_a_receipt_failing_mid_batch_rolls_back_alone_and_the_chains_verify(
    container: Container,
) -> None:
    db = container.databases.home
    ids = one_batch_of_lifecycles(container, "sbx_memo", T0)
    failing = ids[5]  # the second event of the second lifecycle
    calls = 0

    def fail_once(_conn: Connection, fact: EnvelopeFact) -> None:
        # Registered after the audit handler: this receipt's audit entry and event-log entry
        # are appended in its savepoint before it fails.
        nonlocal calls
        if fact.receipt_id == failing and calls == 0:
            calls += 1
            raise Failed

    container.services.receipts.handlers.on_every(fail_once)
    assert container.services.receipts.process_pending(db, 50) == 12
    with db.reader() as conn:
        status = conn.execute(
            select(webhook_receipts.c.status).where(webhook_receipts.c.id == failing)
        ).scalar_one()
    assert status == "processing"  # released for a retry, the rest of the batch committed
    assert verify_chains(container.databases) == []

    with db.transaction() as conn:  # its retry is due now
        conn.execute(
            update(webhook_receipts)
            .where(webhook_receipts.c.id == failing)
            .values(lease_until=datetime.now(UTC) - timedelta(seconds=1))
        )
    drain_receipts(container)
    assert calls == 1
    assert verify_chains(container.databases) == []
    with db.reader() as conn:
        statuses = set(conn.execute(select(webhook_receipts.c.status)).scalars())
        heads = chains.heads(conn)
        entries = len(conn.execute(select(audit_log.c.seq)).all())
    assert statuses == {"done"}
    assert heads["audit"][1] == entries
    assert heads["audit"][0] != GENESIS


def test_a_batch_reads_each_chain_head_once_and_writes_the_moved_ones_once(
    container: Container,
) -> None:
    db = container.databases.home
    one_batch_of_lifecycles(container, "sbx_heads", T0)
    seen, listener = _head_statements(db.engine)
    try:
        assert container.services.receipts.process_pending(db, 50) == 12
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)

    # The audit chain and one chain per envelope: each read once (a new one inserted once),
    # and every moved head written by one statement before the commit.
    assert seen.count("SELECT") == 4
    assert seen.count("INSERT") <= 4
    assert seen.count("UPDATE") == 1
    assert verify_chains(container.databases) == []
