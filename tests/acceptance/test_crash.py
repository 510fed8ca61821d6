"""kill -9 in the middle of a burst: every delivery answered 2xx is processed after restart, and
nothing reaches the CRM twice. The CRM runs as its own process, so it outlives the crash."""

from __future__ import annotations

import concurrent.futures
import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.acceptance.conftest import crm_writes, make_stack, start_crm
from tests.support.builders import lifecycle_bodies, signed

T0 = datetime.now(UTC) - timedelta(hours=2)


def test_kill_minus_nine_loses_no_acknowledged_delivery_and_writes_nothing_twice(
    tmp_path: Path,
) -> None:
    crm, crm_url = start_crm(tmp_path)
    stack = make_stack(tmp_path, crm_url=crm_url)
    try:
        server = stack.start_server()
        deliveries = []
        for n in range(120):
            for body in lifecycle_bodies(f"sbx_crash_{n:03d}", T0):
                deliveries.append((signed(body)["webhook-id"], body))
        acknowledged: set[str] = set()
        lock = threading.Lock()
        answered = threading.Event()

        def send(item: tuple[str, bytes]) -> None:
            msg_id, body = item
            try:
                answer = httpx.post(
                    f"{stack.base}/v1/webhooks/sandbox",
                    content=body,
                    headers=signed(body, msg_id),
                    timeout=5.0,
                )
            except httpx.HTTPError:
                return
            if 200 <= answer.status_code < 300:
                with lock:
                    acknowledged.add(msg_id)
                    if len(acknowledged) >= 200:
                        answered.set()

        with concurrent.futures.ThreadPoolExecutor(max_workers=12) as pool:
            futures = [pool.submit(send, item) for item in deliveries]
            assert answered.wait(60), "the burst never got going"
            server.kill9()  # mid-burst: requests in flight get no answer
            concurrent.futures.wait(futures)
        assert 200 <= len(acknowledged) < len(deliveries)

        stack.start_server()  # same data directory; the worker picks up where it died
        db = stack.root / "data" / "default.db"
        deadline = time.monotonic() + 90
        while True:
            with sqlite3.connect(db) as conn:
                done = {
                    row[0]
                    for row in conn.execute(
                        "SELECT dedup_key FROM webhook_receipts WHERE status = 'done'"
                    )
                }
                busy = conn.execute(
                    "SELECT COUNT(*) FROM outbox WHERE status IN ('pending','inflight')"
                ).fetchone()[0]
            if acknowledged <= done and busy == 0:
                break
            assert time.monotonic() < deadline, (
                f"{len(acknowledged - done)} acknowledged deliveries unprocessed, {busy} busy"
            )
            time.sleep(0.3)

        written = [fact for w in crm_writes(crm_url) for fact in w["facts"]]  # type: ignore[union-attr]
        assert len(written) == len(set(written)), "a fact reached the CRM twice"

        # The provider retries what was never answered; afterwards everything is complete.
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(send, deliveries))
        deadline = time.monotonic() + 90
        while True:
            with sqlite3.connect(db) as conn:
                states = [r[0] for r in conn.execute("SELECT state FROM envelopes")]
                busy = conn.execute(
                    "SELECT COUNT(*) FROM outbox WHERE status IN ('pending','inflight')"
                ).fetchone()[0]
            if states.count("completed") == 120 and busy == 0:
                break
            assert time.monotonic() < deadline, "envelopes did not all complete"
            time.sleep(0.3)
        written = [fact for w in crm_writes(crm_url) for fact in w["facts"]]  # type: ignore[union-attr]
        assert len(written) == len(set(written)), "a fact reached the CRM twice"
        records = httpx.get(crm_url + "/records", params={"limit": 500}).json()["results"]
        assert len(records) == 120
        assert {r["properties"]["inkbridge_status"] for r in records} == {"completed"}
    finally:
        stack.stop()
        crm.stop()


pytestmark = pytest.mark.slow
