"""A worker's batch of receipts commits once, on SQLite and on PostgreSQL alike (one more commit
for the claim on PostgreSQL), and every receipt of it is applied."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, select

from inkbridge.bootstrap import Container
from inkbridge.store.schema import envelopes, webhook_receipts
from tests.support.builders import lifecycle_bodies, store_delivery
from tests.support.fakes import RecordingConnector
from tests.support.worker import add_fake_destination

T0 = datetime.now(UTC) - timedelta(hours=2)


def test_a_batch_of_receipts_is_processed_in_one_commit(container: Container) -> None:
    add_fake_destination(container, "crm", RecordingConnector())
    db = container.databases.home
    container.settings.worker.sqlite_transaction_seconds = 60.0  # the whole batch fits
    for n in range(3):
        for body in lifecycle_bodies(f"sbx_batch_{n}", T0):
            store_delivery(db, body)
    commits = 0

    def count(_conn: Any) -> None:
        nonlocal commits
        commits += 1

    event.listen(db.engine, "commit", count)
    try:
        claimed = container.services.receipts.process_pending(db, 50)
    finally:
        event.remove(db.engine, "commit", count)

    assert claimed == 12
    assert commits == (1 if db.is_sqlite else 2)  # PostgreSQL claims in a commit of its own
    with db.reader() as conn:
        statuses = set(conn.execute(select(webhook_receipts.c.status)).scalars())
        states = conn.execute(select(envelopes.c.state)).scalars().all()
    assert statuses == {"done"}
    assert states == ["completed"] * 3
