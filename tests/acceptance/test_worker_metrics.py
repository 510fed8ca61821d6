"""A worker run on its own (``inkbridge worker``, the API in another process) serves
``GET /metrics`` on ``[worker] metrics_port``: the outbox backlog, dead letters, the circuit of
each destination it delivers to and the worker lag, read from a real worker process while it
fails to reach a CRM that is not there."""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.acceptance.conftest import Stack
from tests.acceptance.stack import SANDBOX_CRM, base_config, wait_for, write_config
from tests.support.builders import lifecycle_bodies, signed
from tests.support.processes import INKBRIDGE, Process, cli, free_port, wait_http

pytestmark = pytest.mark.slow
T0 = datetime.now(UTC) - timedelta(hours=3)


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of the series ``name`` with exactly ``labels``, or None."""
    for line in text.splitlines():
        found = re.fullmatch(rf"{name}\{{([^}}]*)\}} (\S+)", line)
        if found is None:
            continue
        pairs = dict(re.findall(r'(\w+)="([^"]*)"', found.group(1)))
        if pairs == labels:
            return float(found.group(2))
    return None


def test_a_worker_alone_serves_its_queues_circuit_and_lag_as_prometheus_metrics(
    tmp_path: Path,
) -> None:
    metrics_port = free_port()
    tree = base_config(tmp_path, free_port(), metrics_port=metrics_port)
    # A CRM nobody listens on: the first batch fails, its changes are dead-lettered (one
    # attempt) and the circuit opens, so later changes wait in the backlog.
    tree["destinations"]["crm"] = SANDBOX_CRM | {
        "url": f"http://127.0.0.1:{free_port()}",
        "max_attempts": 1,
        "circuit_failures": 1,
        "circuit_cooldown_seconds": 600,
        "batch_size": 1,
    }
    config = write_config(tmp_path, tree)
    cli(["migrate", "--config", str(config)])
    stack = Stack(root=tmp_path, config=config, port=tree["server"]["port"])
    try:
        worker = stack.start_worker("worker")
        scrape = f"http://127.0.0.1:{metrics_port}/metrics"
        assert worker.proc is not None
        wait_http(scrape, proc=worker.proc)
        stack.start_server("api")
        for body in lifecycle_bodies("sbx_metrics_1", T0):
            answer = httpx.post(
                f"{stack.base}/v1/webhooks/sandbox", content=body, headers=signed(body)
            )
            assert answer.status_code == 200

        def settled() -> str | None:
            text = httpx.get(scrape, timeout=5).text
            dead = sample(
                text, "inkbridge_outbox_dead_letters", destination="crm", region="default"
            )
            waiting = sample(text, "inkbridge_inbox_backlog", region="default")
            return text if dead and waiting == 0 else None

        text = wait_for(settled, "a dead letter and an empty inbox in the worker's metrics", 60)
        answer = httpx.get(scrape, timeout=5)
        assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
        crm = {"destination": "crm", "region": "default"}
        # The batches already on their way when the circuit opened were dead-lettered too.
        assert (sample(text, "inkbridge_outbox_dead_letters", **crm) or 0) >= 1
        assert (sample(text, "inkbridge_outbox_backlog", **crm) or 0) >= 1
        assert (sample(text, "inkbridge_outbox_oldest_pending_age_seconds", **crm) or 0) > 0
        assert (
            sample(text, "inkbridge_destination_circuit_state", destination="crm", state="open")
            == 1
        )
        assert (
            sample(text, "inkbridge_destination_circuit_state", destination="crm", state="closed")
            == 0
        )
        assert sample(text, "inkbridge_worker_lag_seconds", region="default") == 0
        assert sample(text, "inkbridge_queue_metrics_up", region="default") == 1
        # Only /metrics is served there.
        assert httpx.get(f"http://127.0.0.1:{metrics_port}/console").status_code == 404
    finally:
        stack.stop()


def test_a_worker_whose_metrics_port_is_taken_stops_saying_so(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, base_config(tmp_path, free_port(), metrics_port=port))
        cli(["migrate", "--config", str(config)])
        worker = Process(
            [*INKBRIDGE, "worker", "--config", str(config)], tmp_path / "worker.log"
        ).start()
        assert worker.proc is not None
        try:
            code = worker.proc.wait(timeout=30)
        finally:
            worker.stop()
    assert code != 0
    assert str(port) in worker.log()
