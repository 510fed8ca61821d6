"""What one delivery worker costs PostgreSQL per delivered change: commits and rows touched,
read from ``pg_stat_database`` before and after draining a backlog, and how long one claim takes
as the backlog grows.

A fresh database is created on the server (so no other client's work is counted), migrated,
and filled with ``--changes`` pending outbox rows: ``--per-record`` state changes of each of
``--changes / --per-record`` records, every one due. One delivery loop (``deliver_once``, the
worker's own code) drains it into an in-memory destination that accepts every change (a fake
vendor: no network, so the database is what is measured). A coalescing destination sends the
newest change of each record and settles the others as superseded.

    .venv/bin/python bench/delivery_cost.py
    .venv/bin/python bench/delivery_cost.py --changes 100000 --analyze

Writes ``bench/results/delivery-cost-<date>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.fakes import RecordingConnector  # noqa: E402

from inkbridge.config import DestinationSettings  # noqa: E402
from inkbridge.services.delivery import DestinationRuntime, deliver_once  # noqa: E402
from inkbridge.services.routing import Destination  # noqa: E402
from inkbridge.store import migrate  # noqa: E402
from inkbridge.store.database import Databases  # noqa: E402

ADMIN = os.environ.get("INKBRIDGE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
COUNTERS = ("xact_commit", "tup_returned", "tup_fetched", "tup_inserted", "tup_updated")
PAYLOAD = json.dumps(
    {
        "envelope": {"id": "env", "state": "sent", "template": "nda", "lead_id": "lead"},
        "lead": {"id": "lead", "email": "someone@example.com", "first_name": "Some"},
        "event": {"type": "envelope.sent", "occurred_at": "2026-12-14T09:00:00Z"},
    }
)


def _stats(dbname: str) -> dict[str, int]:
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            f"SELECT {', '.join(COUNTERS)} FROM pg_stat_database WHERE datname = %s",
            (dbname,),
        ).fetchone()
    assert row is not None
    return dict(zip(COUNTERS, (int(v) for v in row), strict=True))


def _index_reads(url: str) -> dict[str, int]:
    """Index entries read per index and rows read by sequential scans, per table."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        reads = {
            f"{table}.{index}": int(read)
            for table, index, read in conn.execute(
                "SELECT relname, indexrelname, idx_tup_read FROM pg_stat_user_indexes"
            )
        }
        for table, seq_read in conn.execute(
            "SELECT relname, seq_tup_read FROM pg_stat_user_tables"
        ):
            reads[f"{table} (sequential)"] = int(seq_read or 0)
    return reads


def _load(admin_url: str, changes: int, per_record: int, analyze: bool) -> None:
    due = datetime.now(UTC) - timedelta(minutes=1)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO outbox (region, destination, idempotency_key, record_key, kind,"
            " payload, status, attempts, next_attempt_at, created_at)"
            " SELECT 'default', 'crm', 'fact-' || g, 'envelope:' || (g %% %s),"
            " 'envelope.state_changed', %s, 'pending', 0, %s, %s FROM generate_series(1, %s) g",
            (max(1, changes // per_record), PAYLOAD, due, due, changes),
        )
        if analyze:
            conn.execute("ANALYZE outbox")


async def _drain(databases: Databases, batch_size: int) -> dict[str, Any]:
    settings = DestinationSettings.model_validate(
        {"kind": "sandbox_crm", "batch_size": batch_size, "rate_per_second": 1_000_000}
    )
    fake = RecordingConnector(max_batch=batch_size)
    runtime = DestinationRuntime.for_destination(Destination("crm", settings, fake, coalesce=True))
    passes, attempted, started = 0, 0, time.perf_counter()
    while True:
        done = await deliver_once(runtime, databases.home)
        if not done:
            break
        passes += 1
        attempted += done
    return {
        "seconds": time.perf_counter() - started,
        "passes": passes,
        "changes_sent": attempted,
        "api_batches": fake.calls,
    }


def run(changes: int, per_record: int, batch_size: int, analyze: bool) -> dict[str, Any]:
    dbname = "bench_delivery_" + uuid.uuid4().hex[:8]
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {dbname}")
    base = ADMIN.rsplit("/", 1)[0] + "/" + dbname
    try:
        databases = Databases({"default": base}, home_region="default")
        migrate.upgrade_all(databases)
        _load(base, changes, per_record, analyze)
        databases.dispose()
        time.sleep(1.5)  # closed backends have flushed their statistics
        before, reads_before = _stats(dbname), _index_reads(base)
        databases = Databases({"default": base}, home_region="default")
        drained = asyncio.run(_drain(databases, batch_size))
        databases.dispose()
        time.sleep(1.5)
        after, reads_after = _stats(dbname), _index_reads(base)
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")
    delta = {name: after[name] - before[name] for name in COUNTERS}
    reads = {name: reads_after[name] - reads_before.get(name, 0) for name in reads_after}
    return {
        "changes": changes,
        "per_record": per_record,
        "batch_size": batch_size,
        "analyzed": analyze,
        **drained,
        "counters": delta,
        "per_change": {name: round(value / changes, 3) for name, value in delta.items()},
        "changes_per_second": round(changes / drained["seconds"], 1),
        "tuples_read": {name: value for name, value in sorted(reads.items()) if value},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--per-record", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--analyze", action="store_true", help="ANALYZE after loading")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    runs = []
    for changes in args.changes:
        result = run(changes, args.per_record, args.batch_size, args.analyze)
        runs.append(result)
        print(json.dumps(result))
    record = {
        "benchmark": "delivery_cost",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "load_average_1min": os.getloadavg()[0],
        "runs": runs,
    }
    out = (
        args.out or ROOT / "bench" / "results" / f"delivery-cost-{datetime.now(UTC):%Y-%m-%d}.json"
    )
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
