"""The production layout of compose.yaml, run as processes: this machine builds no images, so
the test starts what each compose service runs (the image's entrypoint is ``inkbridge``; the
command and environment are read from compose.yaml, the config is deploy/inkbridge.toml) on
PostgreSQL: the one-shot migration, the API and two workers. A webhook comes in, is processed
and reaches a sandbox CRM. What differs from compose, and only that: addresses, the database
schema, the data directory, and a sandbox CRM destination added through the environment."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.acceptance.conftest import crm_writes, start_crm
from tests.conftest import PG_AVAILABLE, drop_pg_schema, new_pg_schema
from tests.support.builders import SECRET, lifecycle_bodies, signed
from tests.support.processes import INKBRIDGE, Process, free_port, wait_http

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_AVAILABLE, reason="PostgreSQL is not reachable"),
]
ROOT = Path(__file__).resolve().parents[2]
REGION_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # 32 bytes, base64
VARIABLE = re.compile(r"\$\{(\w+)(?::[-?][^}]*)?\}")


def compose_services() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))["services"])


def interpolated(environment: dict[str, Any], values: dict[str, str]) -> dict[str, str]:
    """compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` with ``values``."""
    return {
        key: VARIABLE.sub(lambda m: values[m.group(1)], str(value))
        for key, value in environment.items()
    }


@pytest.fixture
def pg_schema() -> Iterator[str]:
    name, url = new_pg_schema()
    yield url
    drop_pg_schema(name)


def test_the_compose_layout_runs_migrate_api_and_two_workers_on_postgres(
    tmp_path: Path, pg_schema: str
) -> None:
    services = compose_services()
    assert {"postgres", "migrate", "api", "worker-1", "worker-2"} <= services.keys()
    port = free_port()
    crm, crm_url = start_crm(tmp_path)
    values = {
        "POSTGRES_PASSWORD": "unused",
        "WEBHOOK_SECRET": SECRET,
        "REGION_KEY": REGION_KEY,
        "INKBRIDGE_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    here = {
        "INKBRIDGE_CONFIG": str(ROOT / "deploy" / "inkbridge.toml"),  # the mounted file
        "INKBRIDGE_REGIONS__DEFAULT__DATABASE_URL": pg_schema,
        "INKBRIDGE_SERVER__HOST": "127.0.0.1",
        "INKBRIDGE_SERVER__PORT": str(port),
        "INKBRIDGE_DATA_DIR": str(tmp_path / "data"),
        "INKBRIDGE_WORKER__POLL_INTERVAL_SECONDS": "0.05",
        "INKBRIDGE_DESTINATIONS__CRM__KIND": "sandbox_crm",
        "INKBRIDGE_DESTINATIONS__CRM__URL": crm_url,
    }

    def env_of(service: str) -> dict[str, str]:
        environment = interpolated(services[service]["environment"], values)
        assert set(here) - set(environment) <= {
            "INKBRIDGE_DATA_DIR",  # the image's ENV
            "INKBRIDGE_WORKER__POLL_INTERVAL_SECONDS",
            "INKBRIDGE_DESTINATIONS__CRM__KIND",
            "INKBRIDGE_DESTINATIONS__CRM__URL",
        }
        return {**environment, **here}

    def command(service: str) -> list[str]:
        return [*INKBRIDGE, *services[service]["command"]]

    migrated = subprocess.run(
        command("migrate"), env=env_of("migrate"), capture_output=True, text=True, check=False
    )
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    assert "default: at" in migrated.stdout
    running = [
        Process(command(name), tmp_path / f"{name}.log", env=env_of(name)).start()
        for name in ("api", "worker-1", "worker-2")
    ]
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/healthz", proc=running[0].proc)
        assert httpx.get(base + "/healthz", timeout=5).json() == {"status": "ok"}
        start = datetime.now(UTC) - timedelta(hours=1)
        for body in lifecycle_bodies("sbx_compose_1", start):
            answer = httpx.post(
                base + "/v1/webhooks/website", content=body, headers=signed(body), timeout=10
            )
            assert answer.status_code == 200, answer.text
        deadline = time.monotonic() + 60
        while True:
            facts = [fact for w in crm_writes(crm_url) for fact in w["facts"]]  # type: ignore[union-attr]
            if any(str(fact).startswith("envelope:") for fact in facts):
                break
            for proc in running:
                assert proc.proc is not None and proc.proc.poll() is None, proc.log()
            assert time.monotonic() < deadline, "nothing reached the CRM: " + running[1].log()
            time.sleep(0.2)
    finally:
        for proc in running:
            proc.stop()
        crm.stop()
