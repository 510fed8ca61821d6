"""A running worker's delivery loop: a committed outbox row wakes it at once (the poll interval
is far longer than the test waits), and a pass that claimed less than it could does not claim
again to find nothing: one claim per wake-up."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from inkbridge.bootstrap import Container
from inkbridge.connectors.kinds import ENVELOPE_STATE
from inkbridge.store import outbox
from inkbridge.worker import Worker
from tests.support.builders import sandbox_container
from tests.support.fakes import RecordingConnector
from tests.support.worker import add_fake_destination


@pytest.fixture
def container(tmp_path: Path, sqlite_url: str) -> Iterator[Container]:
    built = sandbox_container(tmp_path, sqlite_url)
    built.settings.worker.poll_interval_seconds = 600.0
    yield built
    built.databases.dispose()


def _queue(container: Container, key: str) -> None:
    db = container.databases.home
    with db.transaction() as conn:
        outbox.enqueue(
            conn,
            region=db.region,
            destination="crm",
            idempotency_key=key,
            record_key=f"envelope:{key}",
            kind=ENVELOPE_STATE,
            payload={"envelope": {"id": key, "state": "sent"}},
            correlation_id=None,
            now=datetime.now(UTC),
        )


async def _until(condition: Any) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the delivery loop did not wake up")


def test_each_committed_change_wakes_delivery_for_one_claim(container: Container) -> None:
    fake = add_fake_destination(container, "crm", RecordingConnector())
    claims: list[str] = []

    def seen(_conn: Any, _cursor: Any, sql: str, *_rest: Any) -> None:
        if "WITH heads" in sql:
            claims.append(sql)

    event.listen(container.databases.home.engine, "before_cursor_execute", seen)

    async def run() -> None:
        worker = Worker(container)
        worker.start()
        try:
            await _until(lambda: len(claims) == 1)  # the first pass, before any work
            for n in (1, 2):
                _queue(container, f"change-{n}")
                await _until(lambda n=n: len(fake.writes) == n)
                await asyncio.sleep(0.2)  # room for a claim too many
                assert len(claims) == 1 + n
        finally:
            await worker.stop()

    asyncio.run(run())
    assert [w["facts"] for w in fake.writes] == [["change-1"], ["change-2"]]
