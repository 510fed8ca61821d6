"""New work wakes a worker process at once on PostgreSQL: the API process's commit sends
NOTIFY inkbridge_work, the worker LISTENs, so a webhook is processed and delivered long before
the 5 s poll interval configured here would find it; a dropped LISTEN connection costs nothing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.acceptance.conftest import Stack, crm_writes, start_crm
from tests.acceptance.stack import SANDBOX_CRM, base_config, write_config
from tests.conftest import PG_ADMIN_URL, PG_AVAILABLE, drop_pg_schema, new_pg_schema
from tests.support.builders import lifecycle_bodies, signed
from tests.support.processes import Process, cli, free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_AVAILABLE, reason="PostgreSQL is not reachable"),
]

T0 = datetime.now(UTC) - timedelta(hours=3)
POLL_SECONDS = 5.0


@dataclass
class Running:
    stack: Stack
    schema: str
    crm_url: str
    worker: Process


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    """An `api` process and a separate `worker` process polling every 5 s, on PostgreSQL."""
    schema, url = new_pg_schema()
    crm, crm_url = start_crm(tmp_path)
    port = free_port()
    tree = base_config(tmp_path, port, poll_interval_seconds=POLL_SECONDS)
    tree["regions"]["default"]["database_url"] = url
    tree["destinations"]["crm"] = SANDBOX_CRM | {"url": crm_url}
    config = write_config(tmp_path, tree)
    cli(["migrate", "--config", str(config)])
    stack = Stack(root=tmp_path, config=config, port=port)
    try:
        stack.start_server("api")
        worker = stack.start_worker("worker")
        wait_until(
            lambda: "work_listener_connected" in worker.log_path.read_text(), "the worker to LISTEN"
        )
        # Let the loops' first claims (and the catch-up after connecting) find nothing first.
        time.sleep(0.5)
        yield Running(stack, schema, crm_url, worker)
    finally:
        stack.stop()
        crm.stop()
        drop_pg_schema(schema)


def wait_until(condition: Callable[[], object], what: str, timeout: float = 30.0) -> float:
    """Poll ``condition`` every 20 ms; the seconds it took."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"timed out waiting for {what}"
        time.sleep(0.02)
    return time.monotonic() - started


def processed(schema: str) -> int:
    with psycopg.connect(PG_ADMIN_URL) as conn:
        conn.execute(f"SET search_path TO {schema}")
        row = conn.execute("SELECT COUNT(*) FROM webhook_receipts WHERE status = 'done'").fetchone()
    assert row is not None
    return int(row[0])


def post(stack: Stack, body: bytes) -> None:
    answer = httpx.post(
        f"{stack.base}/v1/webhooks/sandbox", content=body, headers=signed(body), timeout=10.0
    )
    assert answer.status_code == 200


def facts_written(crm_url: str) -> int:
    return sum(len(w["facts"]) for w in crm_writes(crm_url))  # type: ignore[arg-type]


def post_and_time(run: Running, body: bytes) -> tuple[float, float]:
    """Post one webhook to the API process; seconds until the worker process has processed it,
    and until the CRM has the change it caused."""
    done, written = processed(run.schema), facts_written(run.crm_url)
    started = time.monotonic()
    post(run.stack, body)
    wait_until(lambda: processed(run.schema) > done, "the receipt to be processed")
    to_processed = time.monotonic() - started
    wait_until(lambda: facts_written(run.crm_url) > written, "the CRM write")
    return to_processed, time.monotonic() - started


def listeners(worker: Process) -> list[int]:
    """The backend pids of the worker process's LISTEN connections."""
    assert worker.proc is not None
    with psycopg.connect(PG_ADMIN_URL) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s",
            (f"inkbridge-listen-{worker.proc.pid}",),
        ).fetchall()
    return [int(r[0]) for r in rows]


def test_a_webhook_is_processed_and_delivered_by_another_process_well_within_the_poll_interval(
    running: Running,
) -> None:
    timings = [post_and_time(running, lifecycle_bodies(f"sbx_wake_{n}", T0)[0]) for n in range(3)]
    for to_processed, to_delivered in timings:
        assert to_processed < 1.0, timings
        assert to_delivered < 1.5, timings


def test_a_dropped_listen_connection_loses_no_work_and_is_reconnected(running: Running) -> None:
    dropped = listeners(running.worker)
    assert len(dropped) == 1
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (dropped[0],))
    # Posted while the worker has no LISTEN connection: polling (or the catch-up on reconnect)
    # still finds it within the poll interval.
    to_processed, _ = post_and_time(running, lifecycle_bodies("sbx_drop_1", T0)[0])
    assert to_processed < POLL_SECONDS + 2.0
    wait_until(
        lambda: "work_listener_lost" in running.worker.log_path.read_text(),
        "the lost listener logged",
    )
    wait_until(lambda: listeners(running.worker) not in ([], dropped), "a new LISTEN connection")
    time.sleep(0.5)
    to_processed, to_delivered = post_and_time(running, lifecycle_bodies("sbx_drop_2", T0)[0])
    assert to_processed < 1.0
    assert to_delivered < 1.5
