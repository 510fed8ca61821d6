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

Results go to ``bench/results/reports-<date>.json``; bench/REPORTS.md has the recorded figures.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from inkbridge.domain.intervals import INTERVAL_COLUMNS, interval_columns_us
from inkbridge.services.reports import (
    CreditBy,
    GroupBy,
    Model,
    ReportFilter,
    attribution_report,
    funnel_report,
    time_to_sign_report,
)
from inkbridge.store import attribution_journeys, migrate
from inkbridge.store.database import Databases

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
TARGET_SECONDS = 2.0
START = int(datetime(2025, 12, 1, tzinfo=UTC).timestamp())
YEAR, DAY, HOUR = 365 * 86400, 86400, 3600
CHUNK_LEADS = 25_000

# --- the data set ---------------------------------------------------------------------------

MEDIA = (("cpc", "google"), ("email", "newsletter"), ("social", "linkedin"), ("display", "dv360"))
CAMPAIGNS = [(src, med, f"{med}-{k:02d}", None) for k in range(40) for med, src in [MEDIA[k % 4]]]
ORGANIC = ("google", "organic", None, None)
REFERRAL = (None, None, None, "https://news.example.com/article")
DIRECT = (None, None, None, None)
TEMPLATES = ("nda", "msa", "order_form", "dpa", "sow")

LEAD_COLUMNS = [
    *("id", "region", "email", "anonymous_id", "score", "qualified_at", "first_touch"),
    *("correlation_id", "created_at"),
]
TOUCH_COLUMNS = [
    *("region", "lead_id", "anonymous_id", "occurred_at", "utm_source", "utm_medium"),
    *("utm_campaign", "click_ids", "referrer", "landing_page"),
]
ENVELOPE_COLUMNS = [
    *("id", "region", "lead_id", "connection", "provider", "provider_envelope_id"),
    *("template_key", "template_version", "correlation_id", "state", "delivery_failed"),
    *("conflicts", "milestones", "attribution", "metadata", "linked", "needs_reconcile"),
    *("sent_at", "first_viewed_at", "first_signed_at", "completed_at", "declined_at"),
    *("voided_at", "expired_at", "first_reminder_at", "utm_source", "utm_medium"),
    *("utm_campaign", "version", "created_at", "updated_at", "lead_created_at"),
    *INTERVAL_COLUMNS,
]
MILESTONES = ENVELOPE_COLUMNS[17:25]

_days: dict[int, str] = {}


def stamp(ts: int | None) -> str | None:
    """Epoch seconds as the text SQLAlchemy stores in SQLite (PostgreSQL parses it in UTC)."""
    if ts is None:
        return None
    day, rest = divmod(ts, DAY)
    text = _days.get(day)
    if text is None:
        text = _days[day] = datetime.fromtimestamp(day * DAY, UTC).strftime("%Y-%m-%d")
    hours, rest = divmod(rest, HOUR)
    return f"{text} {hours:02d}:{rest // 60:02d}:{rest % 60:02d}.000000"


def iso(ts: int) -> str:
    text = stamp(ts)
    assert text is not None
    return text[:10] + "T" + text[11:19] + "+00:00"


def pick_channel(rng: random.Random) -> tuple[str | None, str | None, str | None, str | None]:
    draw = rng.random()
    if draw < 0.60:
        return CAMPAIGNS[int(rng.random() * len(CAMPAIGNS))]
    if draw < 0.75:
        return ORGANIC
    return REFERRAL if draw < 0.85 else DIRECT


def utm_json(channel: tuple[str | None, ...]) -> str:
    source, medium, campaign, _ = channel
    return json.dumps({"utm_source": source, "utm_medium": medium, "utm_campaign": campaign})


class Generator:
    """Yields chunks of (leads, touchpoints, envelopes) rows until ``envelopes`` exist."""

    def __init__(self, envelopes: int, seed: int) -> None:
        self.target = envelopes
        self.rng = random.Random(seed)
        self.expected_leads = int(envelopes * 1.3)
        self.leads = self.touchpoints = self.envelopes = 0

    def chunks(self) -> Iterator[tuple[list[tuple[Any, ...]], ...]]:
        while self.envelopes < self.target:
            out: tuple[list[tuple[Any, ...]], ...] = ([], [], [])
            for _ in range(CHUNK_LEADS):
                if self.envelopes >= self.target:
                    break
                self._lead(*out)
            yield out

    def _lead(self, leads: list[Any], touches: list[Any], envelopes: list[Any]) -> None:
        rng, i = self.rng, self.leads
        self.leads += 1
        lead_id, correlation = f"lead_{i:09d}", f"cor_{i:09d}"
        created = START + int(i * YEAR / self.expected_leads) + int(rng.random() * 600)
        anon = f"anon_{i:09d}" if rng.random() < 0.85 else None
        first_at = created - int(rng.random() * 30 * DAY)
        first = pick_channel(rng)
        touches.append(("default", lead_id, anon, stamp(first_at), *first[:3], "{}", first[3], "/"))
        extras = 0
        while extras < 8 and rng.random() < 0.55:
            extras += 1
        for _ in range(extras):
            at = first_at + int(rng.random() * (created + 20 * DAY - first_at))
            linked = anon is None or (at <= created and rng.random() < 0.75)
            channel = pick_channel(rng)
            owner = lead_id if linked else None
            touches.append(("default", owner, anon, stamp(at), *channel[:3], "{}", channel[3], "/"))
        self.touchpoints += 1 + extras
        count = 0
        if rng.random() < 0.71:
            count = 2 if rng.random() < 0.09 else 1
        qualified = None
        if count or rng.random() < 0.1:
            qualified = stamp(created + int(rng.expovariate(1 / (6 * HOUR))))
        first_touch: dict[str, Any] = {
            "occurred_at": iso(first_at),
            "utm_source": first[0],
            "utm_medium": first[1],
            "utm_campaign": first[2],
            "utm_term": None,
            "utm_content": None,
            "click_ids": {},
            "referrer": first[3],
            "landing_page": "/",
        }
        email, score, frozen = f"u{i}@example.com", int(rng.random() * 100), json.dumps(first_touch)
        leads.append(
            (lead_id, "default", email, anon, score, qualified, frozen, correlation, stamp(created))
        )
        attribution = utm_json(first)
        for _ in range(min(count, self.target - self.envelopes)):
            envelopes.append(self._envelope(lead_id, correlation, created, first, attribution))

    def _envelope(
        self, lead_id: str, correlation: str, created: int, first: tuple[Any, ...], attribution: str
    ) -> tuple[Any, ...]:
        rng, j = self.rng, self.envelopes
        self.envelopes += 1
        made = created + int(rng.expovariate(1 / (2 * DAY)))
        at: dict[str, int | None] = dict.fromkeys(MILESTONES)
        state = "created"
        if rng.random() < 0.95:
            sent = at["sent_at"] = made + int(rng.expovariate(1 / 600))
            state = "sent"
            end = None
            if rng.random() < 0.85:
                view = at["first_viewed_at"] = sent + int(rng.expovariate(1 / (6 * HOUR)))
                state, draw = "viewed", rng.random()
                if draw < 0.65:
                    done = at["completed_at"] = view + int(rng.expovariate(1 / (1.5 * DAY)))
                    at["first_signed_at"] = max(view, done - int(rng.expovariate(1 / HOUR)))
                    state, end = "completed", done
                elif draw < 0.72:
                    end = at["declined_at"] = view + int(rng.expovariate(1 / (2 * DAY)))
                    state = "declined"
                elif draw < 0.77:
                    at["first_signed_at"] = view + int(rng.expovariate(1 / (3 * HOUR)))
                    state = "partially_signed"
                elif draw < 0.82:
                    end = at["expired_at"] = sent + 30 * DAY
                    state = "expired"
            elif rng.random() < 0.10:
                end = at["expired_at"] = sent + 30 * DAY
                state = "expired"
            reminder = sent + (1 + int(rng.random() * 7)) * DAY
            if rng.random() < 0.4 and (end is None or reminder < end):
                at["first_reminder_at"] = reminder
        elif rng.random() < 0.5:
            at["voided_at"], state = made + DAY, "voided"
        stamps = {k: stamp(v) for k, v in at.items()}
        milestones = json.dumps({k: iso(v) for k, v in at.items() if v is not None})
        env_id = f"env_{j:09d}"
        metadata = json.dumps(
            {"inkbridge_envelope_id": env_id, "inkbridge_lead_id": lead_id, "campaign": first[2]}
        )
        template = TEMPLATES[int(rng.random() * len(TEMPLATES))]
        updated = max((v for v in at.values() if v is not None), default=made)
        version = 1 + int(rng.random() * 3)
        # The time-to-sign columns, as the store writes them (moments in epoch microseconds).
        moments = {k: v * 1_000_000 for k, v in at.items() if v is not None}
        intervals = interval_columns_us({**moments, "lead_created_at": created * 1_000_000})
        return (
            *(env_id, "default", lead_id, "sandbox", "sandbox", f"pe_{j:09d}", template),
            *(version, correlation, state, False, "[]", milestones, attribution, metadata),
            *(True, False, *stamps.values(), *first[:3], 1, stamp(made), stamp(updated)),
            *(stamp(created), *intervals.values()),
        )


# --- loading --------------------------------------------------------------------------------


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


# --- the reports ----------------------------------------------------------------------------

Report = Callable[[Databases], dict[str, Any]]


def report_suite() -> dict[str, Report]:
    quarter = ReportFilter(
        since=datetime(2026, 3, 1, tzinfo=UTC), until=datetime(2026, 6, 1, tzinfo=UTC)
    )
    suite: dict[str, Report] = {
        "funnel": funnel_report,
        "funnel (campaign email-01)": lambda d: funnel_report(d, ReportFilter(campaign="email-01")),
        "funnel (cohort Mar-May)": lambda d: funnel_report(d, quarter),
    }
    for group_by in GroupBy:
        suite[f"time_to_sign by {group_by.value}"] = functools.partial(
            time_to_sign_report, group_by=group_by
        )
    suite["time_to_sign by campaign (cohort Mar-May)"] = lambda d: time_to_sign_report(
        d, quarter, group_by=GroupBy.CAMPAIGN
    )
    for model in Model:
        suite[f"attribution {model.value}"] = functools.partial(attribution_report, models=[model])
    suite["attribution all six models"] = attribution_report
    suite["attribution linear by campaign"] = lambda d: attribution_report(
        d, models=[Model.LINEAR], credit_by=CreditBy.CAMPAIGN
    )
    suite["attribution all six models (cohort Mar-May)"] = lambda d: attribution_report(d, quarter)
    # Another stitching window than the stored one: journeys assembled at query time.
    suite["attribution linear, 14-day window (assembled)"] = lambda d: attribution_report(
        d, models=[Model.LINEAR], stitch_window=timedelta(days=14)
    )
    return suite


def time_reports(url: str, runs: int) -> dict[str, dict[str, Any]]:
    databases = Databases({"default": url}, "default")
    out: dict[str, dict[str, Any]] = {}
    try:
        for name, report in report_suite().items():
            seconds = []
            for _ in range(runs):
                begin = time.perf_counter()
                result = report(databases)
                seconds.append(round(time.perf_counter() - begin, 3))
            median = statistics.median(seconds)
            out[name] = {
                "runs_s": seconds,
                "median_s": median,
                "under_target": median < TARGET_SECONDS,
                "rows": len(result["rows"]),
                "totals": result["totals"],
            }
            print(f"  {name:34} median {median:6.2f} s  runs {seconds}", flush=True)
    finally:
        databases.dispose()
    return out


# --- driver ---------------------------------------------------------------------------------


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envelopes", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="timed runs per report (median)")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--pg-url", default=os.environ.get("INKBRIDGE_BENCH_PG", PG_ADMIN_URL))
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file and schema")
    args = parser.parse_args()

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
    path = RESULTS / f"reports-{datetime.now(UTC).date().isoformat()}.json"
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(f"results written to {path.relative_to(BENCH.parent)}")
    print_markdown(results)


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, float) or isinstance(right, float):
        return abs(float(left) - float(right)) <= 1e-6 * max(1.0, abs(float(left)))
    return bool(left == right)


def print_markdown(results: dict[str, dict[str, dict[str, Any]]]) -> None:
    backends = list(results)
    print("\n| report | " + " | ".join(f"{b} median (s)" for b in backends) + " |")
    print("|---|" + "---:|" * len(backends))
    for name in results[backends[0]]:
        cells = []
        for backend in backends:
            entry = results[backend][name]
            mark = "" if entry["under_target"] else " ✗"
            cells.append(f"{entry['median_s']:.2f}{mark}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
