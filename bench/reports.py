"""Benchmark of the signing-analytics reports on a million envelopes, on the embedded default
(one SQLite file) and on PostgreSQL.

One run generates a deterministic data set (seeded): leads created over a year, about 1.3 per
envelope, 71 % of them with one or two envelopes whose milestones follow realistic rates and
delays (95 % sent, 85 % of those viewed, about 65 % of viewed completed, declines, expiries,
reminders), and about three touchpoints per lead (linked at capture, or anonymous and stitched
later) across 40 campaigns, organic, referral and direct traffic. The rows go, chunk by chunk,
into a fresh SQLite file migrated with ``upgrade_all`` (executemany on a plain connection) and
into a fresh PostgreSQL schema (COPY), which is then vacuumed and analysed, as autovacuum would.
SQLite gets no ANALYZE: the embedded default never runs one. The stored attribution journeys
are then backfilled on each backend (``attribution_journeys.rebuild``, what ``ensure_built``
runs after an upgrade of an existing database; on PostgreSQL followed by a vacuum and analyse
of the new rows), timed with the setup. Then each report is run three
times per backend through ``inkbridge.services.reports``, the median is kept, and the two
backends' totals are compared.

    .venv/bin/python bench/reports.py                      # 1,000,000 envelopes, both backends
    .venv/bin/python bench/reports.py --envelopes 100000 --no-postgres
    .venv/bin/python bench/reports.py --help

Results go to ``bench/results/reports-<date>.json`` (``reports-<date>-<label>.json`` with
``--label``); bench/REPORTS.md has the recorded figures."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from reports_loaders import PostgresLoader, generate
from reports_suite import TARGET_SECONDS, print_markdown, time_reports

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envelopes", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per report (median)")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--pg-url", default=os.environ.get("INKBRIDGE_BENCH_PG", PG_ADMIN_URL))
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file and schema")
    parser.add_argument(
        "--label", default="", help="recorded as reports-<date>-<label>.json (letters, digits, -)"
    )
    args = parser.parse_args()
    if args.label and not args.label.replace("-", "").isalnum():
        parser.error("--label takes letters, digits and hyphens only")

    load_before = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="inkbridge-reports-"))
    sqlite_path = workdir / "default.db"
    pg_loader = None if args.no_postgres else PostgresLoader(args.pg_url)
    try:
        shape, setup = generate(args, sqlite_path, pg_loader)
        print(f"\ndata: {shape}\nsetup: {setup}")
        results: dict[str, Any] = {"sqlite": {}}
        print("sqlite (embedded default):")
        results["sqlite"] = time_reports(f"sqlite:///{sqlite_path}", args.runs)
        if pg_loader is not None:
            print("postgresql:")
            results["postgresql"] = time_reports(pg_loader.url, args.runs)
    finally:
        if args.keep:
            print(f"kept {sqlite_path}" + (f" and schema {pg_loader.schema}" if pg_loader else ""))
        else:
            for leftover in workdir.iterdir():
                leftover.unlink()
            workdir.rmdir()
            if pg_loader is not None:
                pg_loader.drop()

    agreement = None
    if "postgresql" in results:
        # Both backends must tell the same story: same totals, credits within float noise.
        agreement = {
            name: _same(entry["totals"], results["postgresql"][name]["totals"])
            for name, entry in results["sqlite"].items()
        }
        print(f"sqlite and postgresql totals agree: {all(agreement.values())}")
    with psycopg.connect(args.pg_url) as conn:
        pg_version = conn.execute("SHOW server_version").fetchone()
    record = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "bench/reports.py " + " ".join(sys.argv[1:]),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "postgresql": pg_version[0] if pg_version else None,
            # Other work on this shared machine inflates every figure; compare runs with care.
            "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
        },
        "data": shape,
        "setup": setup,
        "target_s": TARGET_SECONDS,
        "results": results,
        "backends_agree": agreement,
    }
    RESULTS.mkdir(exist_ok=True)
    suffix = f"-{args.label}" if args.label else ""
    path = RESULTS / f"reports-{datetime.now(UTC).date().isoformat()}{suffix}.json"
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(f"results written to {path.relative_to(BENCH.parent)}")
    print_markdown(results)


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, float) or isinstance(right, float):
        return abs(float(left) - float(right)) <= 1e-6 * max(1.0, abs(float(left)))
    return bool(left == right)


if __name__ == "__main__":
    main()
