"""Background loops: process the inbox of every region, deliver the outbox of every
destination, and purge what is past its retention window. Any number of workers may run side
by side; claims keep them out of each other's way (and a purge is idempotent).

A loop with nothing to do waits for its poll interval, or less: committed receipts and outbox
rows wake it at once, through this process's commits (``serve``) and, on PostgreSQL, through
LISTEN on the region's ``inkbridge_work`` channel (``store.work_listener``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

import structlog

from inkbridge.bootstrap import Container
from inkbridge.errors import redacted_error
from inkbridge.services.delivery import DestinationRuntime, deliver_once
from inkbridge.services.retention import run_region
from inkbridge.store.database import RegionDatabase
from inkbridge.wakeups import Wakeups, pause

if TYPE_CHECKING:
    from inkbridge.store.work_listener import WorkListener

log = structlog.get_logger("inkbridge.worker")

# After a wake-up a delivery loop waits this long before it claims, so the changes committed
# meanwhile share one vendor request (and coalesce): fewer, fuller requests for at most this
# much freshness. A backlog drains without it (a full claim is followed by the next at once).
DELIVERY_GATHER_SECONDS = 0.02


class Worker:
    """Runs the inbox and delivery loops until ``stop`` is called."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.services = container.services
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._wakeups = Wakeups()
        self._unsubscribe: list[Callable[[], None]] = []
        self.listeners: list[WorkListener] = []
        self.runtimes = {
            name: DestinationRuntime.for_destination(dest)
            for name, dest in container.destinations.items()
        }

    def wake(self) -> None:
        """Skip every loop's poll wait (new work an entry point knows of)."""
        self._wakeups.wake_all()

    async def _pause(self, woken: asyncio.Event) -> None:
        await pause(woken, self.container.settings.worker.poll_interval_seconds)

    async def _inbox_loop(self, db: RegionDatabase, woken: asyncio.Event) -> None:
        batch = self.container.settings.worker.batch_size
        process = self.services.receipts.process_pending
        await self._claim_loop(
            "inbox_loop_error", db, lambda: asyncio.to_thread(process, db, batch), woken
        )

    async def _claim_loop(
        self,
        error_event: str,
        db: RegionDatabase,
        claim: Callable[[], Awaitable[int]],
        woken: asyncio.Event,
    ) -> None:
        """Claim and run work until stopped; pause until woken or the poll interval when there
        was none, and back off a second after an error."""
        while not self._stopping.is_set():
            try:
                claimed = await claim()
            except Exception as exc:
                log.error(error_event, region=db.region, error=redacted_error(exc))
                claimed = 0
                await asyncio.sleep(1.0)
            if claimed == 0:
                await self._pause(woken)

    async def _delivery_loop(
        self, runtime: DestinationRuntime, db: RegionDatabase, woken: asyncio.Event
    ) -> None:
        while not self._stopping.is_set():
            try:
                attempted = await deliver_once(runtime, db)
            except Exception as exc:
                log.error(
                    "delivery_loop_error",
                    destination=runtime.destination.name,
                    region=db.region,
                    error=redacted_error(exc),
                )
                attempted = 0
                await asyncio.sleep(1.0)
            # A pass that claimed less than it could left nothing due: wait for a wake-up
            # (rows committed since, or during the pass, have set ``woken`` already).
            if attempted == 0 or not runtime.backlog:
                await self._pause(woken)
                await asyncio.sleep(DELIVERY_GATHER_SECONDS)

    async def _reconcile_loop(self, db: RegionDatabase) -> None:
        interval = self.container.settings.worker.reconcile_interval_seconds
        while not self._stopping.is_set():
            try:
                result = await self.services.reconciler.reconcile_once(db)
                if result.reported:
                    self.wake()
            except Exception as exc:
                log.error("reconcile_loop_error", region=db.region, error=redacted_error(exc))
            await asyncio.sleep(interval)

    async def _retention_loop(self, db: RegionDatabase) -> None:
        """Purge what is past its retention window, now and then every ``interval``."""
        settings = self.container.settings.retention
        while not self._stopping.is_set():
            try:
                run = await asyncio.to_thread(
                    run_region, db, settings, source="worker", actor="worker"
                )
                if run.total:
                    log.info("retention_purged", region=db.region, rows=run.total)
            except Exception as exc:
                log.error("retention_loop_error", region=db.region, error=redacted_error(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._stopping.wait(), timeout=settings.interval.total_seconds()
                )

    async def _trigger_loop(self, db: RegionDatabase, woken: asyncio.Event) -> None:
        triggers = self.services.triggers
        await self._claim_loop(
            "trigger_loop_error", db, lambda: triggers.process_triggers(db), woken
        )

    def _spawn(self, loop: Coroutine[Any, Any, None]) -> None:
        self._tasks.append(asyncio.create_task(loop))

    def start(self) -> None:
        wakeups = self._wakeups
        for db in self.container.databases:
            self._spawn(self._inbox_loop(db, wakeups.event(db.region, "receipt")))
            if self.container.providers:
                self._spawn(self._reconcile_loop(db))
            if self.container.settings.retention.enforced:
                self._spawn(self._retention_loop(db))
            if (
                self.container.settings.triggers
                and db.region == self.container.databases.home_region
            ):
                self._spawn(self._trigger_loop(db, wakeups.event(db.region, None)))
            for name, runtime in self.runtimes.items():
                if db.region in self.container.destinations[name].settings.regions:
                    woken = wakeups.event(db.region, "outbox")
                    self._spawn(self._delivery_loop(runtime, db, woken))
            # Commits in this process (serve), and on PostgreSQL every process's commits.
            self._unsubscribe.append(db.signals.subscribe(wakeups.signal_threadsafe))
            if db.is_postgres:
                # psycopg is imported only where a region is on PostgreSQL.
                from inkbridge.store.work_listener import WorkListener

                listener = WorkListener(db, wakeups.signal)
                self.listeners.append(listener)
                self._spawn(listener.run())
        log.info("worker_started", loops=len(self._tasks))

    async def stop(self) -> None:
        self._stopping.set()
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        self._wakeups.wake_all()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def run_forever(self) -> None:
        self.start()
        await self._stopping.wait()
