"""A destination's request budget is one budget for every process on the database: two
"processes" (two ``Databases`` on the same database, each with its own engine and pool) never
spend more than the quota together, and a vendor's pause one of them hears holds the other."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from inkbridge.connectors.throttle import bucket_for
from inkbridge.services.destination_quota import SharedQuota
from inkbridge.store.database import Databases

LIMIT, WINDOW = 10, 1.0


@pytest.fixture
def two_processes(databases: Databases, db_url: str) -> Iterator[tuple[SharedQuota, SharedQuota]]:
    other = Databases({"default": db_url}, home_region="default")
    try:
        yield (
            SharedQuota(databases.home, "hubspot", bucket_for(LIMIT, WINDOW)),
            SharedQuota(other.home, "hubspot", bucket_for(LIMIT, WINDOW)),
        )
    finally:
        other.dispose()


def worst_window(stamps: list[float], window: float) -> int:
    return max(sum(1 for t in stamps if s <= t < s + window) for s in stamps)


def test_two_processes_together_never_exceed_the_quota(
    two_processes: tuple[SharedQuota, SharedQuota],
) -> None:
    sent: dict[str, list[float]] = {"first": [], "second": []}

    async def send(quota: SharedQuota, name: str, requests: int) -> None:
        for _ in range(requests):
            await quota.acquire()
            sent[name].append(time.monotonic())

    async def both() -> None:
        first, second = two_processes
        await asyncio.gather(send(first, "first", 12), send(second, "second", 12))

    asyncio.run(both())
    stamps = sorted(sent["first"] + sent["second"])
    assert len(stamps) == 24
    # Each process alone would have sent 10 in the first second: together they sent no more.
    assert worst_window(stamps, WINDOW) <= LIMIT
    assert sent["first"] and sent["second"]


def test_a_budget_spent_by_one_process_makes_the_other_wait(
    two_processes: tuple[SharedQuota, SharedQuota],
) -> None:
    first, second = two_processes
    while first.try_take() == 0.0:
        pass  # the first process spends the whole burst
    wait = second.try_take()
    assert 0.0 < wait <= 1.0 / first.rate + 0.05


def test_a_vendor_pause_heard_by_one_process_holds_every_process(
    two_processes: tuple[SharedQuota, SharedQuota],
) -> None:
    first, second = two_processes
    assert second.try_take() == 0.0
    first.hold(0.6)  # the first process got a 429 with Retry-After: 0.6
    wait = second.try_take()
    assert 0.4 < wait <= 0.6
    time.sleep(wait)
    deadline = time.monotonic() + 2.0
    while (wait := second.try_take()) > 0.0:
        assert time.monotonic() < deadline, "the pause never ended"
        time.sleep(wait)
