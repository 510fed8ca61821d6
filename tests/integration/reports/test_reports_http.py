"""The reports across regions, over HTTP (JSON and CSV, scope and parameter checks) and from
the command line, and their edges: an empty database, percentile interpolation."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from inkbridge.api.app import create_app
from inkbridge.bootstrap import Container, bootstrap
from inkbridge.cli import main as cli
from inkbridge.domain.attribution_models import Model
from inkbridge.services.report_format import duration_text
from inkbridge.services.reports import (
    GroupBy,
    attribution_report,
    funnel_report,
    percentile,
    time_to_sign_report,
)
from inkbridge.services.tokens import create_token
from inkbridge.store import migrate
from inkbridge.store.database import Databases
from tests.conftest import PG_AVAILABLE, drop_pg_schema, new_pg_schema
from tests.support.builders import make_settings

from .dataset import dataset, load
from .expected import _assert_totals, _credits, _expected_by_channel, _funnel_counts


@pytest.fixture
def two_regions(tmp_path: Path) -> Iterator[Databases]:
    """Even leads in one region, odd in the other: SQLite + PostgreSQL when it is there."""
    schema = None
    urls = {"us": f"sqlite:///{tmp_path}/us.db", "eu": f"sqlite:///{tmp_path}/eu.db"}
    if PG_AVAILABLE:
        schema, urls["eu"] = new_pg_schema()
    databases = Databases(urls, home_region="us")
    migrate.upgrade_all(databases)
    load(databases, dataset(lambda i: "us" if i % 2 == 0 else "eu"))
    yield databases
    databases.dispose()
    if schema:
        drop_pg_schema(schema)


def test_reports_add_up_across_regions_and_merge_percentiles(two_regions: Databases) -> None:
    assert funnel_report(two_regions)["totals"]["completed"] == 50
    assert _funnel_counts(funnel_report(two_regions))["qualified"] == 160
    _assert_totals(time_to_sign_report(two_regions, group_by=GroupBy.CHANNEL))
    report = attribution_report(two_regions, models=[Model.W_SHAPED])
    expected = _expected_by_channel(Model.W_SHAPED)
    assert _credits(report, "channel", Model.W_SHAPED) == pytest.approx(expected, abs=1e-6)


# --- HTTP -----------------------------------------------------------------------------------


@pytest.fixture
def api(tmp_path: Path, db_url: str) -> Iterator[tuple[Container, dict[str, str]]]:
    container = bootstrap(make_settings(tmp_path, db_url), auto_migrate=True)
    load(container.databases, dataset(lambda _i: "default"))
    _, token = create_token(container.databases, "reports", ["read"])
    yield container, {"Authorization": f"Bearer {token}"}
    container.databases.dispose()


def _get(container: Container, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get(path, **kwargs)

    return asyncio.run(go())


def test_the_funnel_over_http_as_json_and_csv(api: tuple[Container, dict[str, str]]) -> None:
    container, auth = api
    body = _get(container, "/v1/reports/funnel", headers=auth, params={"campaign": "spring"})
    assert body.status_code == 200
    assert body.json()["rows"][0] == {
        "step": 1,
        "stage": "captured",
        "count": 67,
        "drop_off_pct": None,
        "conversion_pct": 100.0,
    }
    as_csv = _get(container, "/v1/reports/funnel", headers={**auth, "Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    lines = as_csv.text.splitlines()
    assert lines[0] == "step,stage,count,drop_off_pct,conversion_pct"
    assert lines[1:3] == ["1,captured,200,,100.0", "2,qualified,160,20.0,80.0"]


def test_time_to_sign_and_attribution_over_http(api: tuple[Container, dict[str, str]]) -> None:
    container, auth = api
    answer = _get(
        container,
        "/v1/reports/time-to-sign",
        headers=auth,
        params={"group_by": "template", "format": "csv"},
    )
    assert answer.status_code == 200
    header, *rows = answer.text.splitlines()
    assert header == "template,interval,count,p50_seconds,p90_seconds"
    assert "msa,sent_to_completed,25," in "\n".join(rows)
    linear = _get(
        container,
        "/v1/reports/attribution",
        headers=auth,
        params={"model": "linear", "group_by": "channel"},
    ).json()
    assert linear["columns"] == ["channel", "linear"]
    assert {r["channel"]: r["linear"] for r in linear["rows"]}["organic"] == 17.5
    every = _get(container, "/v1/reports/attribution", headers=auth).json()
    assert every["columns"] == ["channel", *(m.value for m in Model)]
    assert every["totals"]["conversions"] == 50


def test_reports_need_the_read_scope_and_valid_parameters(
    api: tuple[Container, dict[str, str]],
) -> None:
    container, auth = api
    assert _get(container, "/v1/reports/funnel").status_code == 401
    _, writer = create_token(container.databases, "writer", ["leads:write"])
    denied = _get(container, "/v1/reports/funnel", headers={"Authorization": f"Bearer {writer}"})
    assert denied.status_code == 403
    for path, params in (
        ("/v1/reports/attribution", {"model": "nope"}),
        ("/v1/reports/attribution", {"half_life_days": "0"}),
        ("/v1/reports/time-to-sign", {"group_by": "planet"}),
    ):
        assert _get(container, path, headers=auth, params=params).status_code == 422


# --- edges, CLI -----------------------------------------------------------------------------


def test_reports_on_an_empty_database_are_zeros_not_errors(databases: Databases) -> None:
    funnel = funnel_report(databases)
    assert {r["stage"]: r["count"] for r in funnel["rows"]}["captured"] == 0
    assert all(r["drop_off_pct"] is None for r in funnel["rows"])
    timing = time_to_sign_report(databases, group_by=GroupBy.CAMPAIGN)
    assert timing["rows"] == []
    assert timing["totals"]["sent_to_completed"] == {
        "count": 0,
        "p50_seconds": None,
        "p90_seconds": None,
    }
    credit = attribution_report(databases)
    assert credit["rows"] == []
    assert credit["totals"]["conversions"] == 0


def test_percentiles_interpolate_between_closest_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5  # h = 1.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.9) == pytest.approx(3.7)  # h = 2.7
    assert duration_text(2 * 86400 + 3 * 3600 + 59) == "2d 3h"
    assert duration_text(45.5 * 60) == "45m 30s"
    assert duration_text(0) == "0s"


def test_the_cli_prints_each_report(tmp_path: Path, databases: Databases) -> None:
    load(databases, dataset(lambda _i: "default"))
    config = tmp_path / "inkbridge.toml"
    url = databases.home.url
    config.write_text(f'data_dir = "{tmp_path}"\n[regions.default]\ndatabase_url = "{url}"\n')
    runner = CliRunner()
    table = runner.invoke(cli, ["report", "funnel", "--config", str(config)])
    assert table.exit_code == 0, table.output
    assert "qualified" in table.output and "160" in table.output
    as_csv = runner.invoke(
        cli,
        ["report", "funnel", "--config", str(config), "--campaign", "spring", "--format", "csv"],
    )
    assert as_csv.output.splitlines()[1] == "1,captured,67,,100.0"
    timing = runner.invoke(
        cli, ["report", "time-to-sign", "--config", str(config), "--group-by", "channel"]
    )
    assert timing.exit_code == 0, timing.output
    assert "all sent_to_first_view: n=90  p50 45m 30s" in timing.output
    credit = runner.invoke(
        cli,
        ["report", "attribution", "--config", str(config), "--model", "linear", "--format", "json"],
    )
    rows = {r["channel"]: r["linear"] for r in json.loads(credit.output)["rows"]}
    assert rows["organic"] == 17.5
