"""What wakes the worker's waiting loops before their poll interval is up.

Each loop waits on an event of its own, keyed by the region and the kind of work it claims
(``receipt`` for the inbox, ``outbox`` for delivery, ``None`` for loops only ``wake_all``
reaches). A signal sets every event of its key, so several loops waiting on one region's outbox
(one per destination) all wake; an event of its own per loop means one loop clearing its event
never swallows another's wake-up.
"""

from __future__ import annotations

import asyncio
import contextlib

from inkbridge.store.work_signals import WorkKind, WorkSignal

_Key = tuple[str, WorkKind | None]


class Wakeups:
    """The events of one worker's loops. Used on its event loop, except ``signal_threadsafe``."""

    def __init__(self) -> None:
        self._events: dict[_Key, list[asyncio.Event]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def event(self, region: str, kind: WorkKind | None) -> asyncio.Event:
        """A new event for one loop waiting for ``kind`` work in ``region``."""
        self._loop = asyncio.get_running_loop()
        event = asyncio.Event()
        self._events.setdefault((region, kind), []).append(event)
        return event

    def signal(self, signal: WorkSignal) -> None:
        for event in self._events.get((signal.region, signal.kind), ()):
            event.set()

    def signal_threadsafe(self, signal: WorkSignal) -> None:
        """``signal`` from any thread (a commit in a worker thread or the receipt writer's)."""
        loop = self._loop
        if loop is None:
            return
        # A closed loop: the worker has stopped and nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self.signal, signal)

    def wake_all(self) -> None:
        for events in self._events.values():
            for event in events:
                event.set()


async def pause(event: asyncio.Event, seconds: float) -> None:
    """Wait until ``event`` is set or ``seconds`` have passed, then clear it."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout=seconds)
    event.clear()
