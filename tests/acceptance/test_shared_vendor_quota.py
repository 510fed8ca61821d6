"""One vendor quota across worker processes: three ``inkbridge worker`` processes on one
PostgreSQL database deliver a backlog to the HubSpot emulator, which allows 20 requests in any
rolling two seconds (HubSpot's ten, shortened to keep the test short). The backlog needs several
windows; together the workers stay inside the quota (not one 429), and every change is delivered
once."""

from __future__ import annotations

import concurrent.futures
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.destination_vendors import HUBSPOT_TOKEN, OWNERS, Emulator
from tests.acceptance.stack import base_config, secret_ref, write_config
from tests.conftest import PG_AVAILABLE, PgSchema
from tests.support.builders import lifecycle_bodies, signed
from tests.support.processes import INKBRIDGE, Process, cli, free_port, wait_http

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_AVAILABLE, reason="PostgreSQL is not reachable"),
]

LIMIT, WINDOW = 20, 2.0
# Each envelope's changes may coalesce into one upsert (its newest state), so at least 60
# requests: three of the vendor's windows at the least.
ENVELOPES = 60
WORKERS = 3
T0 = datetime.now(UTC) - timedelta(hours=3)


def hubspot_destination(root: Path, url: str) -> dict[str, Any]:
    return {
        "kind": "hubspot",
        "url": url,
        "credentials": {"token": secret_ref(root, "hubspot-token", HUBSPOT_TOKEN)},
        "rate_limit_requests": LIMIT,
        "rate_limit_window_seconds": WINDOW,
        # One change per batch: many requests, so the backlog needs several of the vendor's
        # windows (a batch is a read and an upsert).
        "batch_size": 1,
        "max_attempts": 30,
        "backoff_base_seconds": 0.2,
        "backoff_cap_seconds": 2.0,
        "rate_per_second": 100.0,
        "timeout_seconds": 5.0,
        "options": {"owners": OWNERS["hubspot"]},
    }


def outbox_counts(schema: PgSchema) -> dict[str, int] | None:
    """The outbox's rows by status once every webhook is processed (None before)."""
    [completed] = schema.rows("SELECT COUNT(*) FROM envelopes WHERE state = 'completed'")
    [unsettled] = schema.rows(
        "SELECT COUNT(*) FROM webhook_receipts WHERE status IN ('pending', 'processing')"
    )
    if completed[0] < ENVELOPES or unsettled[0]:
        return None
    rows = schema.rows("SELECT status, COUNT(*) FROM outbox GROUP BY status")
    return {str(status): int(count) for status, count in rows}


def attempts_per_change(schema: PgSchema) -> list[tuple[int, int, str]]:
    """(outbox id, attempts, outcomes) of every change the workers sent."""
    rows = schema.rows(
        "SELECT outbox_id, COUNT(*), string_agg(outcome, ',') FROM deliveries GROUP BY outbox_id"
    )
    return [(int(i), int(n), str(o)) for i, n, o in rows]


def test_three_workers_share_one_vendor_quota_and_deliver_every_change_once(
    tmp_path: Path, pg_schema: PgSchema
) -> None:
    url = pg_schema.url
    hubspot = Emulator(
        "hubspot",
        tmp_path,
        extra=("--rate-limit-per-10s", str(LIMIT), "--window-seconds", str(WINDOW)),
    )
    hubspot.start()
    port = free_port()
    tree = base_config(tmp_path, port)
    tree["regions"]["default"]["database_url"] = url
    tree["destinations"]["hubspot"] = hubspot_destination(tmp_path, hubspot.url)
    config = write_config(tmp_path, tree)
    cli(["migrate", "--config", str(config)])
    processes: list[Process] = []
    try:
        api = Process([*INKBRIDGE, "api", "--config", str(config)], tmp_path / "api.log")
        processes.append(api.start())
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=api.proc)
        bodies = [b for n in range(ENVELOPES) for b in lifecycle_bodies(f"sbx_q_{n:03d}", T0)]

        def send(body: bytes) -> int:
            answer = httpx.post(
                f"http://127.0.0.1:{port}/v1/webhooks/sandbox",
                content=body,
                headers=signed(body),
                timeout=10.0,
            )
            return answer.status_code

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            assert set(pool.map(send, bodies)) == {200}
        started = time.monotonic()
        for n in range(WORKERS):  # the backlog is waiting for them all at once
            processes.append(
                Process(
                    [*INKBRIDGE, "worker", "--config", str(config)],
                    tmp_path / f"worker-{n}.log",
                ).start()
            )

        deadline = started + 60
        while True:
            counts = outbox_counts(pg_schema)
            if counts and counts.get("pending", 0) + counts.get("inflight", 0) == 0:
                break
            assert time.monotonic() < deadline, f"the workers did not drain in time: {counts}"
            time.sleep(0.5)
        elapsed = time.monotonic() - started

        state = httpx.get(hubspot.url + "/_state", timeout=10.0).json()
        requests = state["requests"]
        assert requests["rejected_total"] == 0, f"the vendor answered 429: {requests}"
        assert requests["max_seen_in_window"] <= LIMIT
        # The backlog needed several of the vendor's windows, so the quota was really shared.
        assert requests["requests_total"] > 2 * LIMIT
        assert elapsed > 2 * WINDOW
        assert set(counts) <= {"delivered", "superseded"}, counts
        sent = attempts_per_change(pg_schema)
        assert sum(counts.values()) == len(sent)
        assert all(n == 1 for _id, n, _o in sent), "a change was sent more than once"
        deals = state["objects"]["deals"]
        assert len({d["inkbridge_envelope_id"] for d in deals}) == len(deals) == ENVELOPES
        assert {d.get("inkbridge_status") for d in deals} == {"completed"}
    finally:
        for proc in reversed(processes):
            proc.stop()
        hubspot.stop()
