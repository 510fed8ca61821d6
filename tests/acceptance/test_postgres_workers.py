"""Scale-out on PostgreSQL: one API process and two worker processes share one database and one
outbox; every envelope completes and no fact reaches the CRM twice."""

from __future__ import annotations

import concurrent.futures
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.acceptance.conftest import crm_writes, make_stack, start_crm
from tests.conftest import PG_AVAILABLE, PgSchema
from tests.support.builders import lifecycle_bodies, signed

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_AVAILABLE, reason="PostgreSQL is not reachable"),
]

T0 = datetime.now(UTC) - timedelta(hours=3)


def test_two_worker_processes_on_postgres_deliver_every_fact_once(
    tmp_path: Path, pg_schema: PgSchema
) -> None:
    url = pg_schema.url
    crm, crm_url = start_crm(tmp_path)
    stack = make_stack(tmp_path, database_url=url, crm_url=crm_url)
    try:
        stack.start_server("api")
        stack.start_worker("worker-1")
        stack.start_worker("worker-2")
        deliveries = []
        for n in range(80):
            for body in lifecycle_bodies(f"sbx_pg_{n:03d}", T0):
                deliveries.append((signed(body)["webhook-id"], body))

        def send(item: tuple[str, bytes]) -> int:
            msg_id, body = item
            answer = httpx.post(
                f"{stack.base}/v1/webhooks/sandbox",
                content=body,
                headers=signed(body, msg_id),
                timeout=10.0,
            )
            return answer.status_code

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            assert set(pool.map(send, deliveries + deliveries[::3])) == {200}

        deadline = time.monotonic() + 120
        while True:
            states = [r[0] for r in pg_schema.rows("SELECT state FROM envelopes")]
            [busy] = pg_schema.rows(
                "SELECT COUNT(*) FROM outbox WHERE status IN ('pending','inflight')"
            )
            [accepted] = pg_schema.rows(
                "SELECT COUNT(*) FROM envelope_events WHERE outcome = 'accepted'"
            )
            if states.count("completed") == 80 and busy[0] == 0:
                break
            assert time.monotonic() < deadline, "the workers did not drain in time"
            time.sleep(0.3)
        written = [fact for w in crm_writes(crm_url) for fact in w["facts"]]  # type: ignore[union-attr]
        assert len(written) == len(set(written)), "a fact reached the CRM twice"
        assert len(written) == accepted[0]
        for name in ("worker-1", "worker-2"):  # both workers took a share of the work
            assert "receipts_processed" in (tmp_path / f"{name}.log").read_text()
    finally:
        stack.stop()
        crm.stop()
