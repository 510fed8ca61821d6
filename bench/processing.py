"""Receipt processing in-process: what the worker's inbox step costs per event, without HTTP,
the webhook writer or delivery in the way.

Stores N lifecycles (sent, viewed, signed, completed) as receipts of a fresh database (SQLite
with synchronous=FULL, or a fresh PostgreSQL schema), routed to one sandbox CRM destination that
is never called, then runs ``process_pending`` until the inbox is empty. Reports the CPU time per
receipt (process time, every thread), the SQL statements per receipt by verb and table, the
commits per receipt, and optionally the functions cProfile finds most expensive.

    .venv/bin/python bench/processing.py                       # SQLite, 500 lifecycles
    .venv/bin/python bench/processing.py --postgres --cprofile 25
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import re
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402
from tests.support.builders import lifecycle_bodies, make_settings  # noqa: E402

from inkbridge.bootstrap import bootstrap  # noqa: E402
from inkbridge.store.receipt_inserts import ReceiptRow, insert_receipt  # noqa: E402

PG_ADMIN_URL = os.environ.get("INKBRIDGE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", re.IGNORECASE)


def statement_kind(sql: str) -> str:
    verb = sql.lstrip().split(None, 1)[0].upper()
    table = _TABLE.search(sql)
    return f"{verb} {table.group(1)}" if table else verb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lifecycles", type=int, default=500)
    parser.add_argument("--batch", type=int, default=50, help="process_pending's limit")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--cprofile", type=int, default=0, help="print the N costliest functions")
    parser.add_argument("--label", default="", help="write bench/results/processing-<date>-<label>")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="inkbridge-processing-"))
    schema = None
    if args.postgres:
        import psycopg

        schema = "bench_" + uuid.uuid4().hex[:12]
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
        base = PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1)
        url = f"{base}?options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{root / 'inkbridge.db'}"
    settings = make_settings(
        root,
        url,
        destinations={"crm": {"kind": "sandbox_crm", "url": "http://127.0.0.1:9"}},
        # The time limit of SQLite's processing transactions is the worker's default.
    )
    container = bootstrap(settings, auto_migrate=True)
    db = container.databases.home
    try:
        t0 = datetime.now(UTC) - timedelta(hours=1)
        with db.transaction() as conn:
            for n in range(args.lifecycles):
                for body in lifecycle_bodies(f"sbx_proc_{n:06d}", t0):
                    row = ReceiptRow(
                        region=db.region,
                        connection="sandbox",
                        dedup_key=uuid.uuid4().hex,
                        source="webhook",
                        content_type="application/json",
                        headers={},
                        body=body,
                        received_at=datetime.now(UTC),
                    )
                    insert_receipt(conn, row)
        statements: Counter[str] = Counter()
        commits = 0

        def count_statement(*params: Any) -> None:
            statements[statement_kind(params[2])] += 1

        def count_commit(_conn: Any) -> None:
            nonlocal commits
            commits += 1

        event.listen(db.engine, "before_cursor_execute", count_statement)
        event.listen(db.engine, "commit", count_commit)
        profiler = cProfile.Profile() if args.cprofile else None
        receipts = 0
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        while claimed := container.services.receipts.process_pending(db, args.batch):
            receipts += claimed
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        db.engine.dispose()
        if schema:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")
    result = {
        "database": "postgresql" if args.postgres else "sqlite",
        "receipts": receipts,
        "cpu_us_per_receipt": round(cpu / receipts * 1e6, 1),
        "wall_us_per_receipt": round(wall / receipts * 1e6, 1),
        "receipts_per_s_wall": round(receipts / wall, 1),
        "commits_per_receipt": round(commits / receipts, 3),
        "statements_per_receipt": round(sum(statements.values()) / receipts, 2),
        "by_statement": {k: round(v / receipts, 2) for k, v in statements.most_common()},
        "load_average_1min": os.getloadavg()[0],
    }
    print(json.dumps(result, indent=2))
    if args.label:
        result["command"] = "bench/processing.py " + " ".join(sys.argv[1:])
        result["pythonpath"] = os.environ.get("PYTHONPATH")
        out = BENCH / "results" / f"processing-{datetime.now(UTC):%Y-%m-%d}-{args.label}.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
    if profiler:
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(args.cprofile)
        stats.sort_stats("cumulative").print_stats("inkbridge", args.cprofile)


if __name__ == "__main__":
    main()
