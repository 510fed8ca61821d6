"""The group-commit writer: lets concurrent webhook requests share one durable commit.

The hot path never opens a session or a transaction itself. It hands a ``ReceiptRow`` to a
``GroupCommitWriter`` and awaits the commit; the writer's thread gathers whatever rows are
queued, inserts them in one transaction (``receipt_inserts``) and commits once, so a burst of N
webhooks costs one fsync instead of N.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from inkbridge import metrics
from inkbridge.store.database import Databases, RegionDatabase
from inkbridge.store.receipt_inserts import Outcome, ReceiptRow, insert_receipts

log = structlog.get_logger(__name__)


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
