"""A vendor-neutral webhook emitter for emulators: at-least-once delivery with retries, and
``Chaos`` on request (duplicates, delays, reordering, lost events), as real providers behave.

Each emission is a ``build`` callable returning (url, headers, body), called again for every
attempt, so schemes that sign a timestamp re-sign each retry while ids stay stable.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from inkbridge_emulators.faults import Chaos

Build = Callable[[], tuple[str, dict[str, str], bytes]]
Accept = Callable[[httpx.Response], bool]


def accept_2xx(response: httpx.Response) -> bool:
    return 200 <= response.status_code < 300


@dataclass
class EmitterCounters:
    queued: int = 0
    delivered: int = 0  # accepted answers, duplicates included
    duplicates: int = 0
    dropped: int = 0
    failed_attempts: int = 0
    gave_up: int = 0


@dataclass
class _Item:
    build: Build
    copies: int = 1
    attempts: int = 0


@dataclass
class Emitter:
    """Queue emissions with ``emit``; ``start``/``stop`` run the delivery loop."""

    client: httpx.AsyncClient | None = None
    chaos: Chaos = field(default_factory=Chaos)
    accept: Accept = accept_2xx
    max_attempts: int = 20
    retry_base_seconds: float = 0.05
    retry_cap_seconds: float = 2.0
    counters: EmitterCounters = field(default_factory=EmitterCounters)

    def __post_init__(self) -> None:
        self._queue: asyncio.Queue[_Item] | None = None
        self._pending: list[_Item] = []
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self._own_client = False
        self._rng = random.Random(self.chaos.seed)  # noqa: S311 - chaos for tests, not crypto

    def emit(self, build: Build) -> None:
        """Queue one event for delivery (safe to call before ``start``)."""
        self.counters.queued += 1
        if self._rng.random() < self.chaos.drop_rate:
            self.counters.dropped += 1
            return
        copies = 2 if self._rng.random() < self.chaos.duplicate_rate else 1
        self.counters.duplicates += copies - 1
        item = _Item(build=build, copies=copies)
        if self._queue is None:
            self._pending.append(item)
        else:
            self._queue.put_nowait(item)

    async def start(self) -> None:
        if self._task is not None:
            return
        if self.client is None:
            self.client = httpx.AsyncClient(timeout=10.0)
            self._own_client = True
        self._queue = asyncio.Queue()
        for item in self._pending:
            self._queue.put_nowait(item)
        self._pending.clear()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._inflight) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None
        if self._own_client and self.client is not None:
            await self.client.aclose()
            self.client = None

    async def drain(self, timeout: float = 30.0) -> bool:
        """Wait until nothing is queued or in flight; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if (self._queue is None or self._queue.empty()) and not self._inflight:
                return True
            await asyncio.sleep(0.02)
        return False

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            item = await self._queue.get()
            batch = [item]
            if self.chaos.reorder:
                await asyncio.sleep(self.chaos.reorder_window_seconds)
                while not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                self._rng.shuffle(batch)
            for entry in batch:
                for _ in range(entry.copies):
                    task = asyncio.create_task(self._deliver(entry))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)

    async def _deliver(self, item: _Item) -> None:
        if self.chaos.max_delay_seconds > 0:
            await asyncio.sleep(self._rng.random() * self.chaos.max_delay_seconds)
        attempt = 0
        while attempt < self.max_attempts:
            attempt += 1
            url, headers, body = item.build()
            assert self.client is not None
            try:
                response = await self.client.post(url, content=body, headers=headers)
                if self.accept(response):
                    self.counters.delivered += 1
                    return
            except httpx.HTTPError:
                pass
            self.counters.failed_attempts += 1
            delay = min(self.retry_cap_seconds, self.retry_base_seconds * 2 ** (attempt - 1))
            await asyncio.sleep(delay)
        self.counters.gave_up += 1


class EmitsWebhooks:
    """Start, stop and drain for an emulator that delivers its webhooks through ``emitter``."""

    emitter: Emitter
    drain_timeout: float = 10.0

    async def start(self) -> None:
        """Start delivering (idempotent); messages queued before are sent then. Needs a running
        event loop."""
        await self.emitter.start()

    async def stop(self) -> None:
        await self.emitter.stop()

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until every queued message was delivered or given up on."""
        return await self.emitter.drain(self.drain_timeout if timeout is None else timeout)
