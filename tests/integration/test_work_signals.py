"""Committed work is announced once per kind and transaction, and never for a rollback: to this
process's subscribers on every backend, and as NOTIFY inkbridge_work on PostgreSQL (which a
listener hears only once the transaction has committed)."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import psycopg
import pytest

from inkbridge.store import migrate, outbox
from inkbridge.store.database import Databases
from inkbridge.store.receipt_inserts import ReceiptRow, insert_receipts
from inkbridge.store.work_listener import WorkListener
from inkbridge.store.work_signals import CHANNEL, WorkSignal
from tests.conftest import PG_ADMIN_URL

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
# NOTIFY reaches every session of the PostgreSQL database, other tests' too: a region of its own.
REGION = f"wake-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def databases(db_url: str) -> Iterator[Databases]:
    dbs = Databases({REGION: db_url}, home_region=REGION)
    migrate.upgrade_all(dbs)
    yield dbs
    dbs.dispose()


def receipt(key: str) -> ReceiptRow:
    return ReceiptRow(
        region=REGION,
        connection="sandbox",
        dedup_key=key,
        source="webhook",
        content_type="application/json",
        headers={"content-type": "application/json"},
        body=b'{"type":"document_sent","data":{}}',
        received_at=NOW,
    )


def enqueue(conn: object, key: str) -> bool:
    return outbox.enqueue(
        conn,  # type: ignore[arg-type]
        region=REGION,
        destination="crm",
        idempotency_key=key,
        record_key="envelope:env_1",
        kind="envelope.state_changed",
        payload={"envelope": {"id": "env_1"}},
        correlation_id=None,
        now=NOW,
    )


@pytest.fixture
def heard(databases: Databases) -> Iterator[list[WorkSignal]]:
    signals: list[WorkSignal] = []
    unsubscribe = databases.home.signals.subscribe(signals.append)
    yield signals
    unsubscribe()


def test_a_transaction_announces_each_kind_of_new_work_once_after_it_commits(
    databases: Databases, heard: list[WorkSignal]
) -> None:
    with databases.home.transaction() as conn:
        insert_receipts(conn, [receipt("a"), receipt("b")])
        insert_receipts(conn, [receipt("c")])
        enqueue(conn, "fact-1")
        enqueue(conn, "fact-2")
        assert heard == []
    assert sorted(heard, key=lambda s: s.kind) == [
        WorkSignal(REGION, "outbox"),
        WorkSignal(REGION, "receipt"),
    ]


def test_duplicates_and_rolled_back_work_announce_nothing(
    databases: Databases, heard: list[WorkSignal]
) -> None:
    with databases.home.transaction() as conn:
        insert_receipts(conn, [receipt("a")])
        enqueue(conn, "fact-1")
    heard.clear()
    with databases.home.transaction() as conn:
        insert_receipts(conn, [receipt("a")])
        assert not enqueue(conn, "fact-1")
    with pytest.raises(RuntimeError), databases.home.transaction() as conn:
        insert_receipts(conn, [receipt("new")])
        raise RuntimeError("rolled back")
    assert heard == []


def test_a_payload_names_its_region_and_kind() -> None:
    assert WorkSignal.parse(WorkSignal("eu-west", "outbox").payload) == WorkSignal(
        "eu-west", "outbox"
    )
    assert WorkSignal.parse("eu-west:something-new") is None
    assert WorkSignal.parse(":receipt") is None


def ours(listening: psycopg.Connection[tuple[object, ...]], seconds: float) -> list[str]:
    """The payloads about this test's region heard within ``seconds``."""
    return [
        n.payload
        for n in listening.notifies(timeout=seconds)
        if WorkSignal.parse(n.payload)
        in {WorkSignal(REGION, "receipt"), WorkSignal(REGION, "outbox")}
    ]


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_postgres_listeners_hear_new_work_only_once_it_is_committed(databases: Databases) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as listening:
        listening.execute(f"LISTEN {CHANNEL}")
        with databases.home.transaction() as conn:
            insert_receipts(conn, [receipt("a")])
            enqueue(conn, "fact-1")
            assert ours(listening, 0.3) == []
        payloads = ours(listening, 1.0)
    assert sorted(payloads) == [f"{REGION}:outbox", f"{REGION}:receipt"]


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_a_worker_listener_reconnects_after_its_connection_is_dropped(
    databases: Databases,
) -> None:
    heard: list[WorkSignal] = []
    listener = WorkListener(databases.home, heard.append, reconnect_seconds=0.1)
    task = asyncio.create_task(listener.run())
    try:
        await until(lambda: listener.connected)
        # On connecting it signals every kind once: work committed while nobody listened.
        assert {s.kind for s in heard} == {"receipt", "outbox"}
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = %s",
                (f"inkbridge-listen-{os.getpid()}",),
            )
        await until(lambda: not listener.connected)
        await until(lambda: listener.connected)
        heard.clear()
        # Another process's commit (here a connection of its own) reaches the new connection.
        other = Databases({REGION: databases.home.url}, home_region=REGION)
        try:
            with other.home.transaction() as conn:
                insert_receipts(conn, [receipt("after-reconnect")])
        finally:
            other.dispose()
        await until(lambda: WorkSignal(REGION, "receipt") in heard)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def until(condition: Callable[[], object], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)
