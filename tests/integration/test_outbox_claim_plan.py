"""A delivery claim on PostgreSQL reads the front of the backlog only: with 100,000 pending rows
(and as many delivered) its plan walks the live-row indexes (no sequential scan, no join over the
whole backlog) and reads about as many buffers as with 1,000, before any ANALYZE and after one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from inkbridge.store import migrate, outbox_claims
from inkbridge.store.database import Databases
from tests.conftest import pg_schema_url

NOW = datetime(2026, 12, 14, 9, 0, tzinfo=UTC)
HEADS = 100  # records per claim, as ``limit``
ROWS_PER_RECORD = 4  # so a coalescing claim leases 4 x HEADS rows


@pytest.fixture
def backlog() -> Iterator[Any]:
    """Loads ``pending`` due rows (and as many delivered ones, as history) into a fresh schema
    and yields the claim's EXPLAIN (ANALYZE, BUFFERS) as JSON; schemas are dropped after."""
    opened: list[tuple[Iterator[str], Databases]] = []

    def load(pending: int, *, analyze: bool = False) -> dict[str, Any]:
        schema = pg_schema_url()
        databases = Databases({"default": next(schema)}, home_region="default")
        opened.append((schema, databases))
        migrate.upgrade_all(databases)
        db = databases.home
        records = pending // ROWS_PER_RECORD
        with db.transaction() as conn:
            for status, prefix, count in (("delivered", "h", pending), ("pending", "k", pending)):
                conn.execute(
                    text(
                        "INSERT INTO outbox (region, destination, idempotency_key, record_key,"
                        " kind, payload, status, attempts, next_attempt_at, created_at)"
                        " SELECT 'default', 'crm', :prefix || g, 'rec-' || (g % :records),"
                        " 'envelope_state', '{}', :status, 0, :due, :due"
                        " FROM generate_series(1, :count) g"
                    ),
                    {
                        "prefix": prefix,
                        "records": records,
                        "status": status,
                        "count": count,
                        "due": NOW - timedelta(minutes=1),
                    },
                )
            if analyze:
                conn.execute(text("ANALYZE outbox"))
        return _explain(databases)

    yield load
    for schema, databases in opened:
        databases.dispose()
        next(schema, None)  # drops the schema


def _explain(databases: Databases) -> dict[str, Any]:
    """The claim statement's plan as executed (rolled back, so the rows stay pending)."""
    statement = outbox_claims._STATEMENTS[("postgresql", True)]
    params = {
        "destination": "crm",
        "now": NOW,
        "limit": HEADS,
        "lease": NOW + timedelta(minutes=5),
    }
    engine = databases.home.engine
    sql = str(statement.compile(dialect=engine.dialect))
    with engine.connect() as conn:
        # Twice: the first run also sets the hint bits of the freshly loaded rows.
        for _ in range(2):
            cursor = conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql,
                statement.compile(dialect=engine.dialect).construct_params(params),
            )
            plan = cursor.scalar_one()
            conn.rollback()
    document = plan if isinstance(plan, list) else json.loads(plan)
    return dict(document[0])


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


def _buffers(explained: dict[str, Any]) -> int:
    top = explained["Plan"]
    return int(top["Shared Hit Blocks"]) + int(top["Shared Read Blocks"])


def _assert_reads_the_front_only(explained: dict[str, Any]) -> None:
    nodes = list(_nodes(explained["Plan"]))
    leased = int(explained["Plan"]["Actual Rows"])
    assert leased == HEADS * ROWS_PER_RECORD
    assert not [n for n in nodes if n["Node Type"] in ("Seq Scan", "Hash Join", "Merge Join")]
    assert not [n for n in nodes if n["Node Type"] in ("Sort", "Bitmap Heap Scan")]
    indexes = {n.get("Index Name") for n in nodes}
    assert {"ix_outbox_live", "ix_outbox_live_record"} <= indexes
    # No node touches more rows than the claim returns (a few times over): nothing is
    # proportional to the backlog.
    for node in nodes:
        touched = int(node["Actual Rows"]) * int(node["Actual Loops"])
        assert touched <= 2 * leased, (node["Node Type"], node.get("Index Name"), touched)


@pytest.mark.postgres
@pytest.mark.parametrize("analyze", [False, True], ids=["before-analyze", "after-analyze"])
def test_a_claim_reads_as_much_with_100k_pending_rows_as_with_1k(
    backlog: Any, analyze: bool
) -> None:
    small = backlog(1_000, analyze=analyze)
    large = backlog(100_000, analyze=analyze)

    # (With 1,000 rows and statistics the planner may rightly hash the small table instead.)
    _assert_reads_the_front_only(large)
    assert int(small["Plan"]["Actual Rows"]) == HEADS * ROWS_PER_RECORD
    # A deeper index costs a block or so per probe; a plan that grew with the backlog would
    # read a hundred times more.
    assert _buffers(large) <= 1.5 * _buffers(small), (_buffers(small), _buffers(large))
    assert large["Execution Time"] <= 10 * max(small["Execution Time"], 5.0)
