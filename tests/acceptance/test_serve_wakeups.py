"""In one `serve` process on SQLite, a webhook's commit wakes the in-process worker at once: with
a 5 s poll interval configured, it is processed and in the sandbox CRM well within a second."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.acceptance.conftest import Stack, crm_writes
from tests.acceptance.stack import SANDBOX_CRM, admin_token, base_config, write_config
from tests.support.builders import lifecycle_bodies, signed
from tests.support.processes import free_port

pytestmark = pytest.mark.slow

T0 = datetime.now(UTC) - timedelta(hours=3)


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[Stack]:
    port = free_port()
    tree = base_config(tmp_path, port, poll_interval_seconds=5.0)
    tree["destinations"]["crm"] = SANDBOX_CRM
    config = write_config(tmp_path, tree)
    stack = Stack(root=tmp_path, config=config, port=port, token=admin_token(config))
    try:
        stack.start_server("serve")
        # The loops' first claims find nothing and settle into their 5 s wait.
        time.sleep(1.0)
        yield stack
    finally:
        stack.stop()


def facts_written(stack: Stack) -> int:
    writes = crm_writes(stack.base + "/sandbox/crm", stack.headers)
    return sum(len(w["facts"]) for w in writes)  # type: ignore[arg-type]


def test_a_webhook_reaches_the_crm_well_within_the_poll_interval(serving: Stack) -> None:
    for n in range(3):
        written = facts_written(serving)
        body = lifecycle_bodies(f"sbx_serve_wake_{n}", T0)[0]
        started = time.monotonic()
        answer = httpx.post(
            f"{serving.base}/v1/webhooks/sandbox", content=body, headers=signed(body), timeout=10
        )
        assert answer.status_code == 200
        while facts_written(serving) == written:
            assert time.monotonic() - started < 1.0, "the change was not delivered within 1 s"
            time.sleep(0.02)
