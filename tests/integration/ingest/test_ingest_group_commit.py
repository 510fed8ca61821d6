"""The group-commit receipt writer on real SQLite and PostgreSQL: many rows in one commit, a
failed batch fails every caller in it, stopping commits what was submitted, and two writers
racing on the same keys store one row per key."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from inkbridge import metrics
from inkbridge.store.database import Databases
from inkbridge.store.receipt_writer import GroupCommitWriter

from .support import count_receipts, receipt_row


async def test_the_group_commit_writer_puts_many_rows_in_one_commit(
    databases: Databases,
) -> None:
    commits = {"region": "default"}
    commits_before = metrics.REGISTRY.get_sample_value(
        "inkbridge_group_commit_batch_rows_count", commits
    )
    writer = GroupCommitWriter(databases.home)
    writer.start()
    try:
        outcomes = await asyncio.gather(*(writer.submit(receipt_row(f"k{n}")) for n in range(200)))
    finally:
        writer.stop()

    assert all(inserted for _, inserted in outcomes)
    assert len({receipt_id for receipt_id, _ in outcomes}) == 200
    assert count_receipts(databases.home) == 200
    assert writer.stats.rows == 200
    assert writer.stats.largest_batch > 1
    assert writer.stats.batches < 200
    commits_after = metrics.REGISTRY.get_sample_value(
        "inkbridge_group_commit_batch_rows_count", commits
    )
    assert commits_after == (commits_before or 0) + writer.stats.batches
    assert b"inkbridge_group_commit_batch_rows" in metrics.render()


async def test_a_failed_batch_fails_every_caller_in_it(tmp_path: Any) -> None:
    broken = Databases({"default": f"sqlite:///{tmp_path}/unmigrated.db"}, home_region="default")
    writer = GroupCommitWriter(broken.home)
    writer.start()
    try:
        outcomes = await asyncio.gather(
            *(writer.submit(receipt_row(f"k{n}")) for n in range(20)), return_exceptions=True
        )
    finally:
        writer.stop()
        broken.dispose()

    assert all(isinstance(outcome, Exception) for outcome in outcomes)
    assert writer.stats.rows == 0


async def test_stopping_the_writer_commits_what_was_already_submitted(
    databases: Databases,
) -> None:
    writer = GroupCommitWriter(databases.home)
    writer.start()
    pending = [asyncio.ensure_future(writer.submit(receipt_row(f"k{n}"))) for n in range(50)]
    await asyncio.sleep(0)  # let every submit reach the queue

    await asyncio.to_thread(writer.stop)
    outcomes = await asyncio.gather(*pending)

    assert len(outcomes) == 50
    assert count_receipts(databases.home) == 50
    with pytest.raises(RuntimeError):
        await writer.submit(receipt_row("late"))


async def test_two_writers_racing_on_the_same_keys_store_one_row_per_key(
    databases: Databases,
) -> None:
    # Two writers stand for two server processes sharing one database; the second one is
    # driven from its own thread and event loop, as a second process's requests would be.
    keys = [f"race_{n}" for n in range(120)]
    first, second = GroupCommitWriter(databases.home), GroupCommitWriter(databases.home)
    first.start()
    second.start()

    async def submit_all(writer: GroupCommitWriter, seed: int) -> dict[str, tuple[int, bool]]:
        order = list(keys)
        random.Random(seed).shuffle(order)
        outcomes = await asyncio.gather(*(writer.submit(receipt_row(key)) for key in order))
        return dict(zip(order, outcomes, strict=True))

    try:
        here, there = await asyncio.gather(
            submit_all(first, 1), asyncio.to_thread(asyncio.run, submit_all(second, 2))
        )
    finally:
        first.stop()
        second.stop()

    assert count_receipts(databases.home) == len(keys)
    for key in keys:
        assert here[key][0] == there[key][0]  # both callers learn the one stored receipt
        assert here[key][1] != there[key][1]  # and exactly one of them inserted it
