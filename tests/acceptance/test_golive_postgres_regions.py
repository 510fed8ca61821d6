"""``inkbridge golive`` against the production shape: an ``api`` process and two ``worker``
processes on PostgreSQL, with two regions (``eu`` and ``us``, a schema each), a sandbox
connection, a CRM and a marketing tool and a backup directory declared for each region. Every
check passes; the residency row covers both regions (a test lead in each, held there only,
written to exactly its region's destinations, backups declared per region); and afterwards
neither region's database holds a readable test lead."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from inkbridge.sandbox.crm import create_crm_app
from tests.acceptance.stack import base_config, secret_ref, write_config
from tests.acceptance.two_regions_stack import KINDS, REGIONS, US_SECRET, region_destinations
from tests.conftest import PG_ADMIN_URL, PG_AVAILABLE, drop_pg_schema, new_pg_schema
from tests.support.builders import SECRET
from tests.support.processes import INKBRIDGE, Process, cli, free_port, wait_http
from tests.support.served import Served

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(not PG_AVAILABLE, reason="PostgreSQL is not reachable"),
]

CONNECTIONS = {"eu": ("sandbox", SECRET), "us": ("sandbox-us", US_SECRET)}


def _tree(root: Path, port: int, urls: dict[str, str], stores: dict[str, Served]) -> Any:
    tree = base_config(root, port)
    tree["sandbox"] = False  # the api process: no built-in sandbox, as in production
    tree["log_level"] = "info"  # the hygiene row searches every line the api writes
    tree["home_region"] = "eu"
    tree["regions"] = {
        region: {
            "database_url": urls[region],
            "backup_dirs": [str(root / "backups" / region)],
        }
        for region in REGIONS
    }
    tree["connections"] = {
        name: {"provider": "sandbox", "region": region, "secrets": [secret_ref(root, name, value)]}
        for region, (name, value) in CONNECTIONS.items()
    }
    tree["destinations"] = region_destinations(stores)
    return tree


@pytest.fixture
def regions_on_postgres(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    schemas = {region: new_pg_schema() for region in REGIONS}
    try:
        yield tmp_path, {region: schema for region, (schema, _) in schemas.items()}
    finally:
        for schema, _ in schemas.values():
            drop_pg_schema(schema)


def _leads_with_personal_fields(schema: str) -> tuple[int, int]:
    """(leads, leads still holding an email, a name or a phone) in a region's schema: the
    only leads there are golive's, and erasure empties those columns."""
    with psycopg.connect(PG_ADMIN_URL) as conn:
        conn.execute(f"SET search_path TO {schema}")
        found = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE email IS NOT NULL OR first_name IS NOT NULL"
            " OR last_name IS NOT NULL OR phone IS NOT NULL) FROM leads"
        ).fetchone()
    assert found is not None
    return int(found[0]), int(found[1])


def test_golive_passes_every_check_on_api_and_workers_with_two_postgres_regions(
    regions_on_postgres: tuple[Path, dict[str, str]],
) -> None:
    root, schemas = regions_on_postgres
    urls = _urls(schemas)
    stores = {}
    processes: list[Process] = []
    try:
        for region in REGIONS:
            for kind in KINDS:
                path = root / "stores" / f"{region}-{kind}.db"
                path.parent.mkdir(parents=True, exist_ok=True)
                stores[f"{region}-{kind}"] = Served(create_crm_app(path, kind=kind))
                stores[f"{region}-{kind}"].start()
        port = free_port()
        config = write_config(root, _tree(root, port, urls, stores))
        env = {k: v for k, v in os.environ.items() if not k.startswith("INKBRIDGE_")}
        api = Process([*INKBRIDGE, "api", "--config", str(config), "--migrate"], root / "api.log")
        processes.append(api.start())
        wait_http(f"http://127.0.0.1:{port}/healthz", proc=api.proc)
        for name in ("worker-1", "worker-2"):
            worker = Process([*INKBRIDGE, "worker", "--config", str(config)], root / f"{name}.log")
            processes.append(worker.start())
        token_file = root / "golive.token"
        token = cli(["tokens", "create", "--config", str(config), "--scope", "golive"], env=env)
        token_file.write_text(token.strip(), encoding="utf-8")
        options = []
        for name, value in CONNECTIONS.values():
            current, retired = root / f"{name}.secret", root / f"{name}.retired"
            current.write_text(value, encoding="utf-8")
            retired.write_text("whsec_" + base64.b64encode(secrets.token_bytes(24)).decode())
            options += ["--secret-file", f"{name}={current}"]
            options += ["--retired-secret-file", f"{name}={retired}"]
        done = subprocess.run(
            [
                *INKBRIDGE,
                *("golive", "--target", f"http://127.0.0.1:{port}"),
                *("--token-file", str(token_file), "--format", "json"),
                *("--settle-seconds", "1", "--log-file", str(root / "api.log"), *options),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        rows = {row["name"]: row for row in json.loads(done.stdout)["checks"]}
        failing = {n: r for n, r in rows.items() if r["outcome"] == "fail"}
        assert not failing, done.stderr
        assert done.returncode == 0
        for name, _ in CONNECTIONS.values():
            for check in ("signatures", "duplicates", "order", "legal-state", "rotated-key"):
                assert rows[f"{check}[{name}]"]["outcome"] == "pass", rows[f"{check}[{name}]"]
        for check in ("residency", "consent", "attribution", "evidence", "clean-up", "hygiene"):
            assert rows[check]["outcome"] == "pass", rows[check]
        regions = rows["residency"]["evidence"]["regions"]
        assert set(regions) == set(REGIONS)
        for region in REGIONS:
            assert regions[region]["envelope_regions"] == [region]
            written = {f"{region}-{kind}": [region] for kind in KINDS}
            assert regions[region]["destinations"] == written
            assert regions[region]["backups"] == [str(root / "backups" / region)]
        assert rows["evidence"]["evidence"]["regions"] == list(REGIONS)
        for region in REGIONS:
            leads, holding = _leads_with_personal_fields(schemas[region])
            assert leads > 0, region
            assert holding == 0, region
    finally:
        for proc in reversed(processes):
            proc.stop()
        for served in stores.values():
            served.stop()


def _urls(schemas: dict[str, str]) -> dict[str, str]:
    base = PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    return {
        region: f"{base}?options=-csearch_path%3D{schema}" for region, schema in schemas.items()
    }
