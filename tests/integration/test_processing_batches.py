"""A worker's batch of receipts commits once, on SQLite and on PostgreSQL alike (one more commit
for the claim on PostgreSQL), and every receipt of it is applied."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, select

from inkbridge.bootstrap import Container
from inkbridge.store.schema import envelopes, webhook_receipts
from tests.support.worker import one_batch_of_lifecycles

T0 = datetime.now(UTC) - timedelta(hours=2)


def test_a_batch_of_receipts_is_processed_in_one_commit(container: Container) -> None:
    db = container.databases.home
    one_batch_of_lifecycles(container, "sbx_batch", T0)
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
