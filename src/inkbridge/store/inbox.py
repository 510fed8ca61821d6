"""The write side of the webhook inbox: one receipt row per (connection, dedup key), and the
group-commit writer that lets concurrent webhook requests share one durable commit.

The hot path never opens a session or a transaction itself. It hands a ``ReceiptRow`` to a
``GroupCommitWriter`` and awaits the commit; the writer's thread gathers whatever rows are
queued, inserts them in one transaction and commits once, so a burst of N webhooks costs one
fsync instead of N.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import queue
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from sqlalchemy import Connection, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from inkbridge import metrics
from inkbridge.store.database import Databases, RegionDatabase
from inkbridge.store.schema import webhook_receipts

log = structlog.get_logger(__name__)

ReceiptSource = Literal["webhook", "reconcile", "trigger"]
Outcome = tuple[int, bool]  # (receipt id, inserted by this call?)


@dataclass(frozen=True, slots=True)
class ReceiptRow:
    """One delivery as the inbox stores it. ``headers`` are already redacted."""

    region: str
    connection: str
    dedup_key: str
    source: ReceiptSource
    content_type: str | None
    headers: dict[str, str]
    body: bytes
    received_at: datetime
    correlation_id: str | None = None


_Key = tuple[str, str]  # (connection, dedup key): what makes a receipt unique


@functools.cache
def _insert_statement(dialect: str) -> Any:
    """The INSERT … ON CONFLICT DO NOTHING RETURNING statement, built once per dialect.

    Built without values and executed with parameter dicts, so SQLAlchemy compiles it once
    and reuses it; building ``.values(...)`` per row measured ten times the CPU per receipt.
    """
    # Both dialects spell ON CONFLICT the same way but through their own insert constructs.
    if dialect == "postgresql":
        insert: Any = postgresql.insert
    elif dialect == "sqlite":
        insert = sqlite.insert
    else:
        raise NotImplementedError(f"the inbox supports SQLite and PostgreSQL, not {dialect!r}")
    columns = webhook_receipts.c
    return (
        insert(webhook_receipts)
        .on_conflict_do_nothing(index_elements=[columns.connection, columns.dedup_key])
        .returning(columns.id, columns.connection, columns.dedup_key)
    )


def _parameters(row: ReceiptRow) -> dict[str, Any]:
    return {
        "region": row.region,
        "connection": row.connection,
        "dedup_key": row.dedup_key,
        "source": row.source,
        "content_type": row.content_type,
        "headers": row.headers,
        "body": row.body,
        "received_at": row.received_at,
        "status": "pending",
        "attempts": 0,
        "correlation_id": row.correlation_id,
    }


def insert_receipt(conn: Connection, row: ReceiptRow) -> Outcome:
    """Insert ``row`` unless its (connection, dedup key) is already stored.

    Returns the receipt id and whether this call inserted it. Runs inside the caller's
    transaction.
    """
    return insert_receipts(conn, [row])[0]


def insert_receipts(conn: Connection, rows: Iterable[ReceiptRow]) -> list[Outcome]:
    """Insert several receipts in the caller's transaction; outcomes come back in row order.

    Within ``rows``, the first row of a key is the one reported as inserted; later rows of the
    same key, and rows whose key was already stored, come back with the stored id.
    """
    if conn.dialect.name == "sqlite":
        return _insert_receipts_sqlite(conn, rows)
    return _insert_receipts_batched(conn, rows)


# The SQLite path writes through the driver's own cursor, one multi-row statement per commit:
# the general path spends most of its time per row building and processing parameters, and one
# statement per row would give up the GIL (and wait to get it back) once per row instead of once
# per commit (measured in bench/README.md). Values are stored exactly as the column types would
# store them: UTC text timestamps, JSON headers.
_SQLITE_COLUMNS = (
    "region, connection, dedup_key, source, content_type, headers, body, received_at,"
    " status, attempts, correlation_id"
)
_SQLITE_VALUES = "(?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?)"
# SQLite allows 32,766 variables per statement; 9 per row.
_SQLITE_MAX_ROWS = 1000


@functools.cache
def _sqlite_insert(rows: int) -> str:
    # Only constants and placeholders go into the text; every value is a bound parameter.
    values = ", ".join([_SQLITE_VALUES] * rows)
    return (
        f"INSERT INTO webhook_receipts ({_SQLITE_COLUMNS}) VALUES {values}"  # noqa: S608
        " ON CONFLICT (connection, dedup_key) DO NOTHING RETURNING id, connection, dedup_key"
    )


_SQLITE_FIND = "SELECT id FROM webhook_receipts WHERE connection = ? AND dedup_key = ?"


def _sqlite_time(moment: datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC, as the timestamp columns store it on SQLite."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(" ", "microseconds")


def _insert_receipts_sqlite(conn: Connection, rows: Iterable[ReceiptRow]) -> list[Outcome]:
    rows = list(rows)
    first_of: dict[_Key, ReceiptRow] = {}
    for row in rows:
        first_of.setdefault((row.connection, row.dedup_key), row)
    unique = list(first_of.values())
    inserted: dict[_Key, int] = {}
    stored: dict[_Key, int] = {}
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        for start in range(0, len(unique), _SQLITE_MAX_ROWS):
            chunk = unique[start : start + _SQLITE_MAX_ROWS]
            parameters: list[Any] = []
            for row in chunk:
                parameters += (
                    row.region,
                    row.connection,
                    row.dedup_key,
                    row.source,
                    row.content_type,
                    json.dumps(row.headers),
                    row.body,
                    _sqlite_time(row.received_at),
                    row.correlation_id,
                )
            cursor.execute(_sqlite_insert(len(chunk)), parameters)
            for receipt_id, connection, dedup_key in cursor.fetchall():
                inserted[(connection, dedup_key)] = int(receipt_id)
        for key in first_of:
            if key not in inserted:
                stored[key] = int(cursor.execute(_SQLITE_FIND, key).fetchone()[0])
    finally:
        cursor.close()
    return _outcomes(rows, inserted, stored)


def _outcomes(
    rows: Sequence[ReceiptRow], inserted: dict[_Key, int], stored: dict[_Key, int]
) -> list[Outcome]:
    """Each row's (id, inserted?): the first row of a key inserted by this call reports True."""
    outcomes: list[Outcome] = []
    reported: set[_Key] = set()
    for row in rows:
        key = (row.connection, row.dedup_key)
        if key in inserted:
            outcomes.append((inserted[key], key not in reported))
            reported.add(key)
        else:
            outcomes.append((stored[key], False))
    return outcomes


def _insert_receipts_batched(conn: Connection, rows: Iterable[ReceiptRow]) -> list[Outcome]:
    """The general path: SQLAlchemy, one statement for the whole batch.

    One multi-row INSERT … ON CONFLICT DO NOTHING RETURNING, then one SELECT for the keys that
    were already stored. A concurrent insert of the same key waits on the unique index
    (PostgreSQL) or the write lock (SQLite), so that SELECT always finds the winner's row.
    Keys are inserted in sorted order so two writers with overlapping keys (two processes, each
    with its own writer) take the unique-index locks in the same order and cannot deadlock.
    Within ``rows``, the first row of a key is the one reported as inserted.
    """
    rows = list(rows)
    first_of: dict[_Key, ReceiptRow] = {}
    for row in rows:
        first_of.setdefault((row.connection, row.dedup_key), row)
    ordered = sorted(first_of)
    result = conn.execute(
        _insert_statement(conn.dialect.name), [_parameters(first_of[key]) for key in ordered]
    )
    inserted: dict[_Key, int] = {(c, k): int(i) for i, c, k in result}
    stored: dict[_Key, int] = {}
    if len(inserted) < len(ordered):
        columns = webhook_receipts.c
        already = [key for key in ordered if key not in inserted]
        found = conn.execute(
            select(columns.id, columns.connection, columns.dedup_key).where(
                tuple_(columns.connection, columns.dedup_key).in_(already)
            )
        )
        stored = {(c, k): int(i) for i, c, k in found}
    return _outcomes(rows, inserted, stored)


@dataclass(slots=True)
class _Pending:
    """A row waiting for its commit, and where to report the outcome."""

    row: ReceiptRow
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Outcome]


# Put on the queue by stop(): the writer finishes what is ahead of it, then exits.
_STOP = object()


def _settle(settlements: list[tuple[asyncio.Future[Outcome], Outcome | Exception]]) -> None:
    for future, outcome in settlements:
        # The caller may have gone away (client disconnect cancels the request task); the row is
        # committed regardless and a retry by the provider will be answered as a duplicate.
        if future.done():
            continue
        if isinstance(outcome, Exception):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)


def _settle_in_loops(batch: list[_Pending], outcomes: Sequence[Outcome | Exception]) -> None:
    """Hand each caller its outcome on its own event loop: one callback per loop per batch.

    Not one per row: every ``call_soon_threadsafe`` wakes the loop from this thread, so one per
    batch keeps that cost flat however many rows the commit carried.
    """
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Outcome], Any]]] = {}
    for pending, outcome in zip(batch, outcomes, strict=True):
        by_loop.setdefault(pending.loop, []).append((pending.future, outcome))
    for loop, settlements in by_loop.items():
        # A closed loop raises RuntimeError: those callers are gone and nobody is left to tell.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, settlements)


@dataclass
class WriterStats:
    """How the writer has been batching: commits made, rows written, largest batch seen."""

    batches: int = 0
    rows: int = 0
    largest_batch: int = 0


class GroupCommitWriter:
    """Writes receipts for one region's database on a dedicated thread, many per commit.

    ``submit`` may be called from any event loop on any thread; each caller's future is resolved
    on its own loop, only after the transaction holding its row has committed. If the batch's
    transaction fails, every caller in it gets the exception and nothing in it is acknowledged.
    """

    def __init__(self, db: RegionDatabase, max_batch: int = 256) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.db = db
        self.max_batch = max_batch
        self.stats = WriterStats()
        self._queue: queue.SimpleQueue[_Pending | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        # Guards the accepting flag together with the queue, so no row lands behind _STOP.
        self._lock = threading.Lock()
        self._accepting = False
        self._batch_metric = metrics.GROUP_COMMIT_BATCH.labels(db.region)
        self._commit_metric = metrics.GROUP_COMMIT_SECONDS.labels(db.region)

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._accepting = True
            self._thread = threading.Thread(
                target=self._run, name=f"inkbridge-group-commit-{self.db.region}", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop accepting rows, commit everything already submitted, then join the thread."""
        with self._lock:
            thread = self._thread
            if thread is None or not self._accepting:
                return
            self._accepting = False
            self._queue.put(_STOP)
        thread.join(timeout)

    async def submit(self, row: ReceiptRow) -> Outcome:
        """Queue ``row`` and wait until it is committed: (receipt id, inserted?)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        with self._lock:
            if not self._accepting:
                raise RuntimeError(f"the receipt writer of region {self.db.region!r} is stopped")
            self._queue.put(_Pending(row, loop, future))
        return await future

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            assert isinstance(first, _Pending)
            batch = [first]
            # Whatever queued up while the previous commit was on disk joins this one.
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                assert isinstance(item, _Pending)
                batch.append(item)
            self._write(batch)

    def _write(self, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        try:
            # Urgent: every row in it is a provider waiting for its acknowledgement.
            with self.db.transaction(urgent=True) as conn:
                outcomes = insert_receipts(conn, [pending.row for pending in batch])
        except Exception as exc:
            # Only the class name: a driver error's text carries the statement's parameters,
            # which here are webhook bodies.
            log.error(
                "receipt_batch_failed",
                region=self.db.region,
                batch=len(batch),
                error=type(exc).__name__,
            )
            _settle_in_loops(batch, [exc] * len(batch))
            return
        self._commit_metric.observe(time.perf_counter() - started)
        self._batch_metric.observe(len(batch))
        self.stats.batches += 1
        self.stats.rows += len(batch)
        self.stats.largest_batch = max(self.stats.largest_batch, len(batch))
        _settle_in_loops(batch, outcomes)


class WriterPool:
    """One ``GroupCommitWriter`` per region, created and started on first use."""

    def __init__(self, databases: Databases, max_batch: int = 256) -> None:
        self._databases = databases
        self._max_batch = max_batch
        self._writers: dict[str, GroupCommitWriter] = {}
        self._lock = threading.Lock()
        self._closed = False

    def writer(self, region: str) -> GroupCommitWriter:
        found = self._writers.get(region)
        if found is not None:
            return found
        with self._lock:
            if self._closed:
                raise RuntimeError("the receipt writers are stopped")
            found = self._writers.get(region)
            if found is None:
                found = GroupCommitWriter(self._databases[region], self._max_batch)
                found.start()
                self._writers[region] = found
            return found

    async def submit(self, region: str, row: ReceiptRow) -> Outcome:
        return await self.writer(region).submit(row)

    def stop_all(self) -> None:
        """Commit what every writer holds and stop them; later submits are refused."""
        with self._lock:
            self._closed = True
            writers = list(self._writers.values())
        for writer in writers:
            writer.stop()
