"""The processes of the end-to-end benchmark (bench/e2e.py): the sandbox CRM as its own process,
and inkbridge as one `serve` on SQLite or as `api` + K `worker`s on PostgreSQL, each over a
fresh database; what the benchmark reads back from that database (progress, freshness, the
accepted changes) and from the CRM's write log; the CPU time every process spent."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from tests.support.builders import SECRET  # noqa: E402
from tests.support.processes import INKBRIDGE, PYTHON, Process, cli, free_port, wait_http  # noqa: E402

# Start-up on a busy 2-core machine can take longer than the tests' 30 s.
STARTUP_SECONDS = 180.0
PG_ADMIN_URL = os.environ.get("INKBRIDGE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")


def config_text(root: Path, port: int, crm_url: str, database_url: str | None, batch: int) -> str:
    """inkbridge.toml: one Standard Webhooks connection, the sandbox CRM destination, a worker
    that polls every 50 ms (and is woken by new work anyway)."""
    region = f'[regions.default]\ndatabase_url = "{database_url}"\n' if database_url else ""
    return f"""
data_dir = "{root / "data"}"
log_level = "warning"
journeys = []
[server]
port = {port}
[worker]
poll_interval_seconds = 0.05
batch_size = {batch}
{region}
[connections.sandbox]
provider = "standard_webhooks"
secrets = ["file:{root / "webhook.secret"}"]
[destinations.crm]
kind = "sandbox_crm"
url = "{crm_url}"
rate_per_second = 200
batch_size = 100
timeout_seconds = 20
max_attempts = 50
backoff_base_seconds = 0.05
backoff_cap_seconds = 1.0
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (every thread)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Setup:
    """One inkbridge under test: `serve` on SQLite (workers == 0) or `api` + workers on
    PostgreSQL, with its own sandbox CRM process, in ``root``."""

    root: Path
    workers: int
    batch: int = 50
    port: int = field(default_factory=free_port)
    processes: dict[str, Process] = field(default_factory=dict)
    schema: str | None = None

    @property
    def name(self) -> str:
        return "serve-sqlite" if self.workers == 0 else f"postgres-api+{self.workers}-workers"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/webhooks/sandbox"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "webhook.secret").write_text(SECRET)
        crm_port = free_port()
        crm = Process(
            [
                PYTHON,
                "-m",
                "inkbridge.sandbox.crm",
                "--port",
                str(crm_port),
                "--db",
                str(self.crm_db),
            ],
            self.root / "crm.log",
        ).start()
        self.processes["crm"] = crm
        crm_url = f"http://127.0.0.1:{crm_port}"
        wait_http(crm_url + "/records", timeout=STARTUP_SECONDS, proc=crm.proc)
        database_url = None
        if self.workers:
            import psycopg

            self.schema = "bench_" + os.urandom(6).hex()
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {self.schema}")
            base = PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1)
            database_url = f"{base}?options=-csearch_path%3D{self.schema}"
        config = self.root / "inkbridge.toml"
        config.write_text(config_text(self.root, self.port, crm_url, database_url, self.batch))
        cli(["migrate", "--config", str(config)])
        command = "api" if self.workers else "serve"
        server = Process([*INKBRIDGE, command, "--config", str(config)], self.root / "server.log")
        self.processes[command] = server.start()
        wait_http(
            f"http://127.0.0.1:{self.port}/healthz", timeout=STARTUP_SECONDS, proc=server.proc
        )
        for n in range(1, self.workers + 1):
            worker = Process(
                [*INKBRIDGE, "worker", "--config", str(config)], self.root / f"w{n}.log"
            )
            self.processes[f"worker-{n}"] = worker.start()

    def stop(self) -> None:
        for proc in reversed(list(self.processes.values())):
            proc.stop()
        if self.schema:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")

    @property
    def crm_db(self) -> Path:
        return self.root / "crm.db"

    def cpu(self) -> dict[str, float]:
        """CPU seconds of each inkbridge process (and the CRM's) so far."""
        return {
            name: cpu_seconds(p.proc.pid)
            for name, p in self.processes.items()
            if p.proc is not None and p.proc.poll() is None
        }

    @contextlib.contextmanager
    def query(self) -> Iterator[Any]:
        """A DB-API cursor on inkbridge's database."""
        if not self.workers:
            conn = sqlite3.connect(self.root / "data" / "default.db", timeout=30)
            try:
                yield conn.cursor()
            finally:
                conn.close()
            return
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as pg:
            pg.execute(f"SET search_path TO {self.schema}")
            yield pg.cursor()

    def progress(self) -> tuple[int, int, int]:
        """Receipts settled, receipts still open, outbox rows not yet delivered."""
        with self.query() as cur:
            cur.execute(
                "SELECT SUM(CASE WHEN status IN ('done','ignored','failed') THEN 1 ELSE 0 END),"
                " SUM(CASE WHEN status IN ('done','ignored','failed') THEN 0 ELSE 1 END)"
                " FROM webhook_receipts"
            )
            settled, open_ = cur.fetchone()
            cur.execute("SELECT COUNT(*) FROM outbox WHERE status IN ('pending','inflight')")
            (busy,) = cur.fetchone()
        return int(settled or 0), int(open_ or 0), int(busy)

    def completed_envelopes(self) -> int:
        with self.query() as cur:
            cur.execute("SELECT COUNT(*) FROM envelopes WHERE state = 'completed'")
            return int(cur.fetchone()[0])

    def accepted_changes(self) -> int:
        with self.query() as cur:
            cur.execute("SELECT COUNT(*) FROM envelope_events WHERE outcome = 'accepted'")
            return int(cur.fetchone()[0])

    def freshness_split(self) -> tuple[list[float], list[float]]:
        """Freshness in two parts per state change: receipt -> its outbox row queued
        (acknowledgement, inbox wait and processing), and queued -> the CRM's acknowledgement
        of the write that carried it (delivery; a superseded row has that write's time)."""
        with self.query() as cur:
            cur.execute(
                "SELECT r.received_at, o.created_at, o.delivered_at FROM outbox o"
                " JOIN envelope_events e"
                "  ON o.idempotency_key = 'envelope:' || e.envelope_id || ':state:' || e.to_state"
                "  AND e.outcome = 'accepted'"
                " JOIN webhook_receipts r ON r.id = e.receipt_id"
                " WHERE o.kind = 'envelope.state_changed' AND o.delivered_at IS NOT NULL"
            )
            rows = cur.fetchall()
        queued = [(_utc(q) - _utc(r)).total_seconds() for r, q, _ in rows]
        written = [(_utc(d) - _utc(q)).total_seconds() for _, q, d in rows]
        return queued, written

    def crm_facts(self) -> list[str]:
        """Every fact key the CRM received, in the order written (duplicates included)."""
        with contextlib.closing(sqlite3.connect(self.crm_db, timeout=30)) as conn:
            rows = conn.execute("SELECT facts FROM writes ORDER BY seq").fetchall()
        return [fact for (facts,) in rows for fact in json.loads(facts)]

    def crm_requests(self) -> int:
        """Upsert batches the CRM committed (one `at` per batch)."""
        with contextlib.closing(sqlite3.connect(self.crm_db, timeout=30)) as conn:
            return int(conn.execute("SELECT COUNT(DISTINCT at) FROM writes").fetchone()[0])


def pg_stats() -> dict[str, int]:
    """Database-wide counters of the benchmark database (commits, rows touched)."""
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit, tup_returned, tup_fetched, tup_inserted, tup_updated,"
            " tup_deleted FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    names = ("commits", "rows_returned", "rows_fetched", "inserted", "updated", "deleted")
    return dict(zip(names, (int(v) for v in row), strict=True))


def _utc(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)
