"""Queue states are data the database enforces: receipt and outbox statuses outside their enums
are refused on both backends (by the schema and by migration 0009 alike), and every move is a
guarded update that leaves a row in an unexpected state alone."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, select, update
from sqlalchemy.exc import IntegrityError

from inkbridge.domain.queue_states import OutboxStatus, ReceiptStatus
from inkbridge.store import migrate, outbox, outbox_claims, receipts
from inkbridge.store.database import Databases, RegionDatabase
from inkbridge.store.receipt_inserts import ReceiptRow, insert_receipt
from inkbridge.store.schema import outbox as outbox_table
from inkbridge.store.schema import webhook_receipts

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


# A queued row of each kind in ``status``: the columns that differ, then the ones they share.
RECEIPT_COLUMNS: dict[str, Any] = {
    "connection": "sandbox",
    "source": "webhook",
    "content_type": "application/json",
    "headers": {},
    "body": b"{}",
    "received_at": NOW,
}
OUTBOX_COLUMNS: dict[str, Any] = {
    "destination": "crm",
    "record_key": "lead-1",
    "kind": "envelope_state",
    "payload": {},
    "next_attempt_at": NOW,
    "created_at": NOW,
}


def _queued(columns: dict[str, Any], status: str, **key: str) -> dict[str, Any]:
    return {"region": "default", **columns, **key, "status": status, "attempts": 0}


def _insert_receipt(db: RegionDatabase, key: str, status: str) -> None:
    with db.transaction() as conn:
        conn.execute(
            webhook_receipts.insert().values(_queued(RECEIPT_COLUMNS, status, dedup_key=key))
        )


def _insert_outbox(db: RegionDatabase, key: str, status: str) -> None:
    with db.transaction() as conn:
        conn.execute(
            outbox_table.insert().values(_queued(OUTBOX_COLUMNS, status, idempotency_key=key))
        )


def _statuses(conn: Connection, table: Any) -> list[str]:
    return [r.status for r in conn.execute(select(table.c.status).order_by(table.c.id))]


def test_every_receipt_and_outbox_state_is_stored_and_any_other_is_refused(
    databases: Databases,
) -> None:
    db = databases.home
    for state in ReceiptStatus:
        _insert_receipt(db, f"r-{state}", state)
    for state in OutboxStatus:
        _insert_outbox(db, f"o-{state}", state)

    with pytest.raises(IntegrityError):
        _insert_receipt(db, "r-typo", "proccessing")
    with pytest.raises(IntegrityError):
        _insert_outbox(db, "o-typo", "delivred")
    with pytest.raises(IntegrityError), db.transaction() as conn:
        conn.execute(update(outbox_table).values(status="sent"))

    with db.reader() as conn:
        assert _statuses(conn, webhook_receipts) == [s.value for s in ReceiptStatus]
        assert _statuses(conn, outbox_table) == [s.value for s in OutboxStatus]


def test_migration_0009_adds_the_checks_to_a_populated_database_and_removes_them(
    db_url: str,
) -> None:
    databases = Databases({"default": db_url}, "default")
    db = databases.home
    try:
        migrate.upgrade(db, "0008")
        _insert_receipt(db, "before", "done")
        _insert_outbox(db, "before", "dead")

        migrate.upgrade(db, "0009")
        with pytest.raises(IntegrityError):
            _insert_receipt(db, "bad", "finished")
        with pytest.raises(IntegrityError):
            _insert_outbox(db, "bad", "lost")
        with db.reader() as conn:
            assert _statuses(conn, webhook_receipts) == ["done"]
            assert _statuses(conn, outbox_table) == ["dead"]

        migrate.downgrade(db, "0008")
        _insert_receipt(db, "unchecked", "finished")
        with db.reader() as conn:
            assert _statuses(conn, webhook_receipts) == ["done", "finished"]
    finally:
        databases.dispose()


def _revision(name: str) -> Any:
    path = migrate.MIGRATIONS / "versions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"revision_{name}", path)
    assert spec is not None and spec.loader is not None
    revision = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(revision)
    return revision


def test_the_migration_lists_exactly_the_states_of_the_enums() -> None:
    """The revisions spell the states out (history must not move with the code); the newest
    list of each agrees with its enum."""
    assert tuple(s.value for s in ReceiptStatus) == _revision("0010_residency").AFTER
    assert tuple(s.value for s in OutboxStatus) == _revision("0012_erasure").OUTBOX_STATES


def _pending_receipt(conn: Connection, key: str) -> int:
    row = ReceiptRow(
        region="default",
        connection="sandbox",
        dedup_key=key,
        source="webhook",
        content_type=None,
        headers={},
        body=b"{}",
        received_at=NOW,
    )
    return insert_receipt(conn, row)[0]


def test_a_receipt_is_settled_or_released_only_while_it_is_leased(databases: Databases) -> None:
    db = databases.home
    with db.transaction() as conn:
        receipt_id = _pending_receipt(conn, "guarded")
        # Not claimed yet: neither move applies.
        assert not receipts.settle(conn, receipt_id, status=ReceiptStatus.DONE, now=NOW)
        assert not receipts.release(conn, receipt_id, error="x", retry_at=NOW)
        [claimed] = receipts.claim(conn, limit=5, lease_seconds=30, now=NOW)
        assert claimed.id == receipt_id
        assert receipts.settle(conn, receipt_id, status=ReceiptStatus.DONE, now=NOW)
        # Settled: a second worker's late settle changes nothing.
        assert not receipts.settle(
            conn, receipt_id, status=ReceiptStatus.FAILED, now=NOW, error="late"
        )
    with db.reader() as conn:
        stored = conn.execute(select(webhook_receipts)).one()
    assert (stored.status, stored.error, stored.attempts) == ("done", None, 1)


def test_a_receipt_is_never_settled_back_into_the_queue(databases: Databases) -> None:
    with databases.home.transaction() as conn:
        receipt_id = _pending_receipt(conn, "queue")
        receipts.claim(conn, limit=5, lease_seconds=30, now=NOW)
        with pytest.raises(ValueError, match="settled as done, ignored or failed"):
            receipts.settle(conn, receipt_id, status=ReceiptStatus.PENDING, now=NOW)


def test_outbox_moves_leave_rows_in_another_state_alone(databases: Databases) -> None:
    db = databases.home
    with db.transaction() as conn:
        for key in ("a", "b"):
            outbox.enqueue(
                conn,
                region="default",
                destination="crm",
                idempotency_key=key,
                record_key=f"lead-{key}",
                kind="envelope_state",
                payload={},
                correlation_id=None,
                now=NOW,
            )
        ids = [
            r.id
            for r in outbox_claims.claim(
                conn,
                destination="crm",
                limit=1,
                lease_seconds=30,
                now=NOW + timedelta(seconds=1),
                whole_records=False,
            )
        ]
        assert len(ids) == 1
        [other] = [
            int(r.id) for r in conn.execute(select(outbox_table.c.id)) if int(r.id) not in ids
        ]
        # The unclaimed row is pending: delivering, retrying, killing or suppressing it is a
        # move from ``inflight`` and does not apply.
        outbox.mark_delivered(conn, [other], [], NOW)
        outbox.mark_retry(conn, [other], NOW, "x")
        outbox.mark_dead(conn, [other], "x")
        outbox.mark_suppressed(conn, [other], NOW)
        outbox.mark_delivered(conn, ids, [], NOW)
        # Delivered: a late dead-letter move of the same row is ignored.
        outbox.mark_dead(conn, ids, "late")
    with db.reader() as conn:
        rows = {int(r.id): r for r in conn.execute(select(outbox_table))}
    assert (rows[other].status, rows[other].attempts) == (OutboxStatus.PENDING, 0)
    assert (rows[ids[0]].status, rows[ids[0]].last_error) == (OutboxStatus.DELIVERED, None)
