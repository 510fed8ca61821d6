"""Background loops: process the inbox of every region, deliver the outbox of every
destination, and purge what is past its retention window. Any number of workers may run side
by side; claims keep them out of each other's way (and a purge is idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from inkbridge.bootstrap import Container
from inkbridge.errors import redacted_error
from inkbridge.services.delivery import DestinationRuntime, deliver_once
from inkbridge.services.retention import run_region
from inkbridge.store.database import RegionDatabase

log = structlog.get_logger("inkbridge.worker")


class Worker:
    """Runs the inbox and delivery loops until ``stop`` is called."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.services = container.services
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self.runtimes = {
            name: DestinationRuntime.for_destination(dest)
            for name, dest in container.destinations.items()
        }

    def wake(self) -> None:
        """Called when new receipts arrive in-process, to skip the poll wait."""
        self._wake.set()

    async def _pause(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                self._wake.wait(), timeout=self.container.settings.worker.poll_interval_seconds
            )
        self._wake.clear()

    async def _inbox_loop(self, db: RegionDatabase) -> None:
        batch = self.container.settings.worker.batch_size
        process = self.services.receipts.process_pending
        await self._claim_loop(
            "inbox_loop_error", db, lambda: asyncio.to_thread(process, db, batch)
        )

    async def _claim_loop(
        self, error_event: str, db: RegionDatabase, claim: Callable[[], Awaitable[int]]
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
                await self._pause()

    async def _delivery_loop(self, runtime: DestinationRuntime, db: RegionDatabase) -> None:
        interval = self.container.settings.worker.poll_interval_seconds
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
            if attempted == 0:
                await asyncio.sleep(interval)

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

    async def _trigger_loop(self, db: RegionDatabase) -> None:
        triggers = self.services.triggers
        await self._claim_loop("trigger_loop_error", db, lambda: triggers.process_triggers(db))

    def start(self) -> None:
        for db in self.container.databases:
            self._tasks.append(asyncio.create_task(self._inbox_loop(db)))
            if self.container.providers:
                self._tasks.append(asyncio.create_task(self._reconcile_loop(db)))
            if self.container.settings.retention.enforced:
                self._tasks.append(asyncio.create_task(self._retention_loop(db)))
            if (
                self.container.settings.triggers
                and db.region == self.container.databases.home_region
            ):
                self._tasks.append(asyncio.create_task(self._trigger_loop(db)))
            for name, runtime in self.runtimes.items():
                if db.region in self.container.destinations[name].settings.regions:
                    self._tasks.append(asyncio.create_task(self._delivery_loop(runtime, db)))
        log.info("worker_started", loops=len(self._tasks))

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def run_forever(self) -> None:
        self.start()
        await self._stopping.wait()
