"""A worker's receipt claim on PostgreSQL reads the due receipts only, however many settled ones
the inbox keeps: with 20,000 done receipts behind 300 pending ones, before ANALYZE and after
it (when the planner, asked for one OR of the two due states, walked the primary key from the
oldest receipt and filtered out every settled one), and it takes the oldest due receipts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from inkbridge.store import migrate, receipts
from inkbridge.store.database import Databases

NOW = datetime(2026, 12, 14, 9, 0, tzinfo=UTC)
SETTLED = 20_000
PENDING = 300
LIMIT = 50


@pytest.fixture
def inbox(pg_url: str) -> Iterator[Databases]:
    """Settled receipts first (the inbox's history), then pending ones, then leased ones whose
    lease is still running."""
    databases = Databases({"default": pg_url}, home_region="default")
    migrate.upgrade_all(databases)
    with databases.home.transaction() as conn:
        conn.execute(
            text(
                "INSERT INTO webhook_receipts (region, connection, dedup_key, source, headers,"
                " body, received_at, status, attempts, lease_until)"
                " SELECT 'default', 'sandbox', 'd' || g, 'webhook', '{}', '', :now,"
                " CASE WHEN g <= :settled THEN 'done' WHEN g <= :due THEN 'pending'"
                " ELSE 'processing' END, 0,"
                " CASE WHEN g > :due THEN CAST(:leased AS timestamptz) END"
                " FROM generate_series(1, :all) g"
            ),
            {
                "now": NOW,
                "settled": SETTLED,
                "due": SETTLED + PENDING,
                "all": SETTLED + PENDING + LIMIT,
                "leased": NOW + timedelta(minutes=5),
            },
        )
    yield databases
    databases.dispose()


def _rows_read(node: dict[str, Any]) -> int:
    """Rows every node of the plan produced or filtered out, its children's included."""
    own = (int(node["Actual Rows"]) + int(node.get("Rows Removed by Filter", 0))) * int(
        node["Actual Loops"]
    )
    return own + sum(_rows_read(child) for child in node.get("Plans", []))


def _explain(databases: Databases) -> dict[str, Any]:
    statement = receipts._CLAIM["postgresql"]
    params = {"now": NOW, "limit": LIMIT, "window": LIMIT * receipts.CLAIM_WINDOW}
    with databases.home.engine.connect() as conn:
        compiled = statement.compile(dialect=conn.dialect)
        plan = conn.exec_driver_sql(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + str(compiled),
            compiled.construct_params({**params, "triggers": False}),
        ).scalar_one()
        conn.rollback()
    document = plan if isinstance(plan, list) else json.loads(plan)
    return dict(document[0]["Plan"])


@pytest.mark.postgres
@pytest.mark.parametrize("analyze", [False, True], ids=["before-analyze", "after-analyze"])
def test_a_claim_reads_the_due_receipts_not_the_settled_ones(
    inbox: Databases, analyze: bool
) -> None:
    if analyze:
        with inbox.home.transaction() as conn:
            conn.execute(text("ANALYZE webhook_receipts"))

    plan = _explain(inbox)

    assert int(plan["Actual Rows"]) == LIMIT
    # The candidates (two windows), the leased rows skipped, their lookups and the sort: a few
    # hundred rows, where the primary-key walk read every settled receipt.
    assert _rows_read(plan) < 2_000, _rows_read(plan)
    with inbox.home.transaction() as conn:
        claimed = receipts.claim(conn, limit=LIMIT, lease_seconds=30, now=NOW)
    assert [r.id for r in claimed] == list(range(SETTLED + 1, SETTLED + LIMIT + 1))
