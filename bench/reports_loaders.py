"""Loading the reports benchmark's data set (bench/reports.py): chunks into a fresh SQLite file
(executemany on a plain connection) and a fresh PostgreSQL schema (COPY, then vacuum and
analyse), and the backfill of the stored attribution journeys, timed."""

from __future__ import annotations

import argparse
import sqlite3
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg

from inkbridge.store import attribution_journeys, migrate
from inkbridge.store.database import Databases
from reports_dataset import ENVELOPE_COLUMNS, LEAD_COLUMNS, TOUCH_COLUMNS, Generator


class SqliteLoader:
    def __init__(self, path: Path) -> None:
        databases = Databases({"default": f"sqlite:///{path}"}, "default")
        migrate.upgrade_all(databases)
        databases.dispose()
        self.conn = sqlite3.connect(path, isolation_level=None)
        # Bulk-load settings for this connection only; the file keeps its WAL mode.
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.execute("PRAGMA cache_size=-1000000")
        self.seconds = 0.0

    def load(self, leads: list[Any], touches: list[Any], envelopes: list[Any]) -> None:
        begin = time.perf_counter()
        self.conn.execute("BEGIN")
        for table, columns, rows in (
            ("leads", LEAD_COLUMNS, leads),
            ("touchpoints", TOUCH_COLUMNS, touches),
            ("envelopes", ENVELOPE_COLUMNS, envelopes),
        ):
            marks = ",".join("?" * len(columns))
            self.conn.executemany(
                f"INSERT INTO {table} ({','.join(columns)}) VALUES ({marks})", rows
            )
        self.conn.execute("COMMIT")
        self.seconds += time.perf_counter() - begin

    def close(self) -> None:
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.close()


class PostgresLoader:
    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.schema = "bench_reports_" + uuid.uuid4().hex[:8]
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {self.schema}")
        base = admin_url.replace("postgresql://", "postgresql+psycopg://", 1)
        self.url = f"{base}?options=-csearch_path%3D{self.schema}"
        databases = Databases({"default": self.url}, "default")
        migrate.upgrade_all(databases)
        databases.dispose()
        self.conn = psycopg.connect(admin_url, options=f"-csearch_path={self.schema}")
        self.conn.execute("SET TIME ZONE 'UTC'")
        self.seconds = 0.0

    def load(self, leads: list[Any], touches: list[Any], envelopes: list[Any]) -> None:
        begin = time.perf_counter()
        with self.conn.cursor() as cur:
            for table, columns, rows in (
                ("leads", LEAD_COLUMNS, leads),
                ("touchpoints", TOUCH_COLUMNS, touches),
                ("envelopes", ENVELOPE_COLUMNS, envelopes),
            ):
                with cur.copy(f"COPY {table} ({','.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        self.conn.commit()
        self.seconds += time.perf_counter() - begin

    def close(self) -> None:
        begin = time.perf_counter()
        self.conn.autocommit = True
        # What autovacuum does after a bulk insert: statistics and the visibility map (which
        # index-only scans need).
        self.conn.execute("VACUUM (ANALYZE)")
        self.seconds += time.perf_counter() - begin
        self.conn.close()

    def drop(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")


def rebuild_journeys(url: str) -> tuple[float, int]:
    """Backfill journey_touches from the loaded rows; returns (seconds, rows)."""
    databases = Databases({"default": url}, "default")
    try:
        db = databases.home
        begin = time.perf_counter()
        with db.transaction() as conn:
            attribution_journeys.rebuild(conn)
        if db.is_postgres:
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM (ANALYZE) journey_touches")
        seconds = time.perf_counter() - begin
        with db.reader() as conn:
            rows = conn.exec_driver_sql("SELECT count(*) FROM journey_touches").scalar_one()
        return seconds, int(rows)
    finally:
        databases.dispose()


def generate(
    args: argparse.Namespace, sqlite_path: Path, pg_loader: PostgresLoader | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Generate the data set into both databases; returns its shape and the setup times."""
    sqlite_loader = SqliteLoader(sqlite_path)
    generator = Generator(args.envelopes, args.seed)
    began = time.perf_counter()
    for chunk in generator.chunks():
        sqlite_loader.load(*chunk)
        if pg_loader is not None:
            pg_loader.load(*chunk)
        print(f"\r{generator.envelopes:>9,} envelopes", end="", file=sys.stderr, flush=True)
    sqlite_loader.close()
    if pg_loader is not None:
        pg_loader.close()
    total = time.perf_counter() - began
    loading = sqlite_loader.seconds + (pg_loader.seconds if pg_loader else 0.0)
    print("\nbackfilling journey_touches", file=sys.stderr, flush=True)
    sqlite_rebuild, journey_rows = rebuild_journeys(f"sqlite:///{sqlite_path}")
    pg_rebuild = rebuild_journeys(pg_loader.url)[0] if pg_loader is not None else None
    shape = {
        "leads": generator.leads,
        "touchpoints": generator.touchpoints,
        "envelopes": generator.envelopes,
        "journey_touches": journey_rows,
        "sqlite_file_mb": round(sqlite_path.stat().st_size / 1e6),
    }
    setup = {
        "generate_s": round(total - loading, 1),
        "sqlite_load_s": round(sqlite_loader.seconds, 1),
        "postgres_load_vacuum_analyze_s": round(pg_loader.seconds, 1) if pg_loader else None,
        "sqlite_journeys_backfill_s": round(sqlite_rebuild, 1),
        "postgres_journeys_backfill_vacuum_analyze_s": (
            round(pg_rebuild, 1) if pg_rebuild is not None else None
        ),
    }
    return shape, setup
