"""The in-process queue of SQLite writers: handed over in arrival order, urgent waiters first
but never more than ``URGENT_STREAK`` times in a row while others wait."""

from __future__ import annotations

import threading
import time

from inkbridge.store.database import WriteQueue


def _queued(queue: WriteQueue) -> int:
    return len(queue._urgent) + len(queue._others)


def _run_in_order(queue: WriteQueue, arrivals: list[tuple[str, bool]]) -> list[str]:
    """Hold the lock, queue the arrivals one after another, then let them all run."""
    order: list[str] = []
    queue.acquire()
    threads = []
    for name, urgent in arrivals:

        def take(name: str = name, urgent: bool = urgent) -> None:
            with queue.held(urgent):
                order.append(name)

        waiting = _queued(queue)
        thread = threading.Thread(target=take)
        thread.start()
        threads.append(thread)
        deadline = time.monotonic() + 5
        while _queued(queue) == waiting and time.monotonic() < deadline:
            time.sleep(0.001)
    queue.release()
    for thread in threads:
        thread.join(5)
    return order


def test_waiters_get_the_lock_in_arrival_order() -> None:
    queue = WriteQueue()
    assert _run_in_order(queue, [(f"w{i}", False) for i in range(5)]) == [
        "w0",
        "w1",
        "w2",
        "w3",
        "w4",
    ]


def test_urgent_waiters_go_first_but_not_forever() -> None:
    queue = WriteQueue()
    arrivals = [("a", False), ("b", False)] + [(f"u{i}", True) for i in range(6)]

    order = _run_in_order(queue, arrivals)

    streak = WriteQueue.URGENT_STREAK
    # The holder was not urgent: urgent waiters take up to URGENT_STREAK turns, then one other.
    assert order == [*(f"u{i}" for i in range(streak)), "a", "u4", "u5", "b"]


def test_an_idle_queue_is_taken_at_once_and_released_clean() -> None:
    queue = WriteQueue()
    with queue.held(urgent=True):
        assert queue._held
    with queue.held():
        pass
    assert not queue._held
    assert _queued(queue) == 0
