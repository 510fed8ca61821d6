"""The sandbox provider's webhook emitter: delivers recorded events at least once, signed with
Standard Webhooks, and misbehaves on request (duplicates, delays, reordering, lost events).

Real providers retry for days, send duplicates and deliver out of order; ``Chaos`` reproduces
that so acceptance tests can prove inkbridge converges anyway. In the happy path (no chaos) first
attempts go out one by one in history order; failed events retry in background tasks with capped
exponential backoff, so one stuck event never holds back the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Coroutine
from dataclasses import asdict, dataclass
from typing import Any

import httpx
import structlog

from inkbridge.sandbox.faults import Chaos
from inkbridge.sandbox.provider_db import (
    DELIVERED,
    DROPPED,
    FAILED,
    PENDING,
    OutgoingEvent,
    ProviderDatabase,
)
from inkbridge.sandbox.provider_wire import delivery_headers

log = structlog.get_logger(__name__)


@dataclass
class DeliveryCounters:
    attempts_total: int = 0
    failed_attempts: int = 0
    sent_total: int = 0  # 2xx answers, duplicates included
    duplicates_sent: int = 0


class WebhookEmitter:
    """Background delivery of a ``ProviderDatabase``'s pending events to one webhook URL."""

    def __init__(
        self,
        db: ProviderDatabase,
        *,
        url: str,
        secret: str,
        chaos: Chaos | None = None,
        client: httpx.AsyncClient | None = None,
        max_attempts: int = 20,
        retry_base_seconds: float = 0.1,
        retry_cap_seconds: float = 5.0,
        timeout_seconds: float = 10.0,
        max_concurrency: int = 16,
    ) -> None:
        self._db = db
        self._url = url
        self._secret = secret
        self._given_client = client
        self._client: httpx.AsyncClient | None = None
        self._max_attempts = max_attempts
        self._retry_base = retry_base_seconds
        self._retry_cap = retry_cap_seconds
        self._timeout = timeout_seconds
        self._max_concurrency = max_concurrency
        self._semaphore: asyncio.Semaphore | None = None
        self._wakeup: asyncio.Event | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: set[int] = set()
        self._successes: dict[int, int] = {}  # 2xx answers per in-flight event (duplicates)
        self.counters = DeliveryCounters()
        self.chaos = chaos or Chaos()

    @property
    def chaos(self) -> Chaos:
        return self._chaos

    @chaos.setter
    def chaos(self, value: Chaos) -> None:
        self._chaos = value
        # Chaos is for tests, not security: a seeded PRNG keeps runs repeatable.
        self._rng = random.Random(value.seed)  # noqa: S311

    @property
    def running(self) -> bool:
        return self._loop_task is not None and not self._loop_task.done()

    async def start(self) -> None:
        """Start the delivery loop in the running event loop (idempotent)."""
        if self.running:
            return
        self._client = self._given_client or httpx.AsyncClient(timeout=self._timeout)
        self._semaphore = asyncio.Semaphore(self._max_concurrency)
        self._wakeup = asyncio.Event()
        self._wakeup.set()  # events left pending by an earlier run go out first
        self._loop_task = asyncio.create_task(self._run(), name="sandbox-webhook-emitter")

    async def stop(self) -> None:
        """Cancel delivery; undelivered events stay pending in the database for the next start."""
        tasks = [t for t in (self._loop_task, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._loop_task = None
        self._tasks.clear()
        self._in_flight.clear()
        self._successes.clear()
        if self._client is not None and self._client is not self._given_client:
            await self._client.aclose()
        self._client = None

    def wake(self) -> None:
        """New events were recorded; safe to call whether or not the loop runs."""
        if self._wakeup is not None:
            self._wakeup.set()

    def snapshot(self) -> dict[str, Any]:
        return {
            **self._db.delivery_counts(),
            "in_flight": len(self._in_flight),
            **asdict(self.counters),
            "running": self.running,
        }

    async def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is pending or in flight; False on timeout. For tests and demos."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if not self._in_flight and not self._db.pending(set(), limit=1):
                return True
            await asyncio.sleep(0.02)
        return False

    # -- the loop ----------------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            # The timeout is a safety net; recording an event normally wakes the loop at once.
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # lands as the event fires, and stop() would then wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._wakeup.wait()
            self._wakeup.clear()
            if self._chaos.reorder:
                # Let a window of events pile up so there is something to shuffle.
                await asyncio.sleep(self._chaos.reorder_window_seconds)
            batch = self._db.pending(self._in_flight)
            if not batch:
                continue
            if self._chaos.reorder:
                batch = self._shuffled(batch)
            for event in batch:
                await self._dispatch(event)
            self._wakeup.set()  # look again: more may have been recorded meanwhile

    def _shuffled(self, batch: list[OutgoingEvent]) -> list[OutgoingEvent]:
        shuffled = batch[:]
        self._rng.shuffle(shuffled)
        # A shuffle can come out in the original order; tests asking for reordering want it.
        if len(shuffled) > 1 and shuffled == batch:
            shuffled.reverse()
        return shuffled

    async def _dispatch(self, event: OutgoingEvent) -> None:
        chaos = self._chaos
        self._in_flight.add(event.seq)
        if chaos.drop_rate and self._rng.random() < chaos.drop_rate:
            self._db.record_delivery(event.seq, DROPPED, event.attempts)
            self._finish(event.seq)
            return
        copies = 2 if chaos.duplicate_rate and self._rng.random() < chaos.duplicate_rate else 1
        delay = self._rng.uniform(0, chaos.max_delay_seconds) if chaos.max_delay_seconds else 0.0
        attempts = [event.attempts]
        if delay == 0.0:
            # Happy path: send in line so receivers see history order (or the shuffled order).
            while copies and await self._attempt(event, attempts):
                copies -= 1
            if not copies:
                self._finish(event.seq)
                return
        self._spawn(self._deliver(event, attempts, copies, delay))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(
        self, event: OutgoingEvent, attempts: list[int], copies: int, delay: float
    ) -> None:
        try:
            if delay:
                await asyncio.sleep(delay)
            while copies:
                if attempts[0] >= self._max_attempts:
                    if not self._successes.get(event.seq):
                        self._db.record_delivery(event.seq, FAILED, attempts[0])
                    log.warning(
                        "sandbox_webhook_gave_up", msg_id=event.msg_id, attempts=attempts[0]
                    )
                    return
                if attempts[0] > event.attempts:
                    await asyncio.sleep(self._backoff(attempts[0] - event.attempts))
                if await self._attempt(event, attempts):
                    copies -= 1
        finally:
            self._finish(event.seq)

    def _backoff(self, failures: int) -> float:
        ceiling = min(self._retry_cap, self._retry_base * 2.0 ** (failures - 1))
        return ceiling * (0.5 + self._rng.random() / 2)  # jitter spreads synchronized retries

    async def _attempt(self, event: OutgoingEvent, attempts: list[int]) -> bool:
        """One POST. ``attempts`` is a one-item list so retries in a task share the count."""
        assert self._client is not None and self._semaphore is not None
        attempts[0] += 1
        self.counters.attempts_total += 1
        headers = delivery_headers(self._secret, event.msg_id, event.body)
        status: int | None = None
        try:
            async with self._semaphore:
                response = await self._client.post(self._url, content=event.body, headers=headers)
            status = response.status_code
        except httpx.HTTPError as exc:
            log.info(
                "sandbox_webhook_attempt_failed", msg_id=event.msg_id, error=type(exc).__name__
            )
        successes = self._successes.get(event.seq, 0)
        if status is not None and 200 <= status < 300:
            self.counters.sent_total += 1
            if successes:
                self.counters.duplicates_sent += 1
            self._successes[event.seq] = successes + 1
            self._db.record_delivery(event.seq, DELIVERED, attempts[0])
            return True
        self.counters.failed_attempts += 1
        if status is not None:
            log.info("sandbox_webhook_attempt_failed", msg_id=event.msg_id, status=status)
        # A failed duplicate copy must not turn a delivered event back into a pending one.
        self._db.record_delivery(event.seq, DELIVERED if successes else PENDING, attempts[0])
        return False

    def _finish(self, seq: int) -> None:
        self._in_flight.discard(seq)
        self._successes.pop(seq, None)
