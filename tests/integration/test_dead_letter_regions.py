"""Replaying dead letters by id across regions: outbox ids are numbered per region, so with
more than one region an id names a different change in each, and a replay by ids must name
its region (else it is refused, and nothing is replayed anywhere)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from inkbridge.api.app import create_app
from inkbridge.bootstrap import bootstrap
from inkbridge.cli import main as cli
from inkbridge.services.tokens import create_token
from inkbridge.store.database import Databases, RegionDatabase
from inkbridge.store.schema import outbox
from tests.support.outbox_rows import insert_dead_letter
from tests.support.regions import REGIONS, two_region_settings


def _dead_letter(db: RegionDatabase, region: str) -> int:
    return insert_dead_letter(db, region=region, destination=f"{region}_crm", key=f"fact-{region}")


def _statuses(databases: Databases) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for region in REGIONS:
        with databases[region].transaction() as conn:
            rows = conn.execute(outbox.select().order_by(outbox.c.id)).mappings()
            found[region] = [str(r["status"]) for r in rows]
    return found


@pytest.fixture
def stack(tmp_path: Path) -> tuple[Databases, str, httpx.AsyncClient]:
    urls = {region: f"sqlite:///{tmp_path}/{region}.db" for region in REGIONS}
    container = bootstrap(two_region_settings(tmp_path, urls), auto_migrate=True)
    databases = container.databases
    ids = {region: _dead_letter(databases[region], region) for region in REGIONS}
    assert ids["eu"] == ids["us"]  # the same id names a different change in each region
    _, token = create_token(databases, "ops", ["admin"])
    transport = httpx.ASGITransport(app=create_app(container))
    client = httpx.AsyncClient(
        transport=transport, base_url="http://t", headers={"authorization": f"Bearer {token}"}
    )
    return databases, str(ids["eu"]), client


async def test_a_replay_by_id_without_its_region_is_refused_and_replays_nothing(
    stack: tuple[Databases, str, httpx.AsyncClient],
) -> None:
    databases, outbox_id, client = stack
    async with client:
        answer = await client.post("/v1/admin/dead-letters/replay", json={"ids": [outbox_id]})
    assert answer.status_code == 422
    assert "numbered per region" in answer.text
    assert _statuses(databases) == {"eu": ["dead"], "us": ["dead"]}


async def test_a_replay_by_id_in_a_region_replays_that_regions_change_only(
    stack: tuple[Databases, str, httpx.AsyncClient],
) -> None:
    databases, outbox_id, client = stack
    async with client:
        body = {"ids": [outbox_id], "region": "us"}
        answer = await client.post("/v1/admin/dead-letters/replay", json=body)
        unknown = {"ids": [outbox_id], "region": "mars"}
        refused = await client.post("/v1/admin/dead-letters/replay", json=unknown)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"replayed": 1}
    assert _statuses(databases) == {"eu": ["dead"], "us": ["pending"]}
    assert refused.status_code == 422
    assert "unknown region 'mars'" in refused.text


def test_the_command_line_asks_for_the_region_of_ids_and_takes_it(
    tmp_path: Path, stack: tuple[Databases, str, httpx.AsyncClient]
) -> None:
    databases, outbox_id, _ = stack
    config = tmp_path / "inkbridge.toml"
    lines = [f'data_dir = "{tmp_path / "data"}"', 'home_region = "eu"']
    for region in REGIONS:
        lines += [f"[regions.{region}]", f'database_url = "{databases[region].url}"']
    config.write_text("\n".join(lines) + "\n")
    runner = CliRunner()
    refused = runner.invoke(cli, ["dlq", "retry", "--config", str(config), "--id", outbox_id])
    assert refused.exit_code != 0
    assert "numbered per region" in refused.output
    taken = runner.invoke(
        cli, ["dlq", "retry", "--config", str(config), "--id", outbox_id, "--region", "eu"]
    )
    assert taken.exit_code == 0, taken.output
    assert _statuses(databases) == {"eu": ["pending"], "us": ["dead"]}
