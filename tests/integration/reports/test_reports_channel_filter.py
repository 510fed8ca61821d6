"""The report routes take ``channel`` (the lead's first-touch medium) as the console does: in
the data set each campaign has one medium (spring is cpc), so filtering on a channel must give
exactly what filtering on its campaign gives, and less than no filter at all."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from inkbridge.api.app import create_app
from inkbridge.bootstrap import Container, bootstrap
from inkbridge.services.tokens import create_token
from tests.support.builders import make_settings

from .dataset import dataset, load

ROUTES = (
    ("/v1/reports/funnel", {}),
    ("/v1/reports/time-to-sign", {"group_by": "template"}),
    ("/v1/reports/attribution", {"group_by": "campaign"}),
    # Another stitching window assembles journeys at query time: the other SQL path.
    ("/v1/reports/attribution", {"group_by": "campaign", "stitch_window_days": "3"}),
)


@pytest.fixture
def api(tmp_path: Path, db_url: str) -> Iterator[tuple[Container, dict[str, str]]]:
    container = bootstrap(make_settings(tmp_path, db_url), auto_migrate=True)
    load(container.databases, dataset(lambda _i: "default"))
    _, token = create_token(container.databases, "reports", ["read"])
    yield container, {"Authorization": f"Bearer {token}"}
    container.databases.dispose()


def _get(container: Container, path: str, auth: dict[str, str], **params: str) -> dict[str, Any]:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get(path, headers=auth, params=params)

    answer = asyncio.run(go())
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


@pytest.mark.parametrize(("path", "params"), ROUTES)
def test_a_channel_filter_selects_the_leads_whose_first_touch_came_through_it(
    api: tuple[Container, dict[str, str]], path: str, params: dict[str, str]
) -> None:
    container, auth = api
    by_channel = _get(container, path, auth, channel="cpc", **params)
    by_campaign = _get(container, path, auth, campaign="spring", **params)
    everything = _get(container, path, auth, **params)

    assert by_channel["filters"]["channel"] == "cpc"
    assert by_channel["rows"] == by_campaign["rows"]
    assert by_channel["totals"] == by_campaign["totals"]
    assert by_channel["rows"] != everything["rows"]
    assert by_channel["rows"], "the channel has leads"


def test_a_channel_no_lead_came_through_is_an_empty_report_not_an_error(
    api: tuple[Container, dict[str, str]],
) -> None:
    container, auth = api
    funnel = _get(container, "/v1/reports/funnel", auth, channel="carrier-pigeon")
    assert {r["stage"]: r["count"] for r in funnel["rows"]}["captured"] == 0
    credit = _get(container, "/v1/reports/attribution", auth, channel="carrier-pigeon")
    assert credit["rows"] == [] and credit["totals"]["conversions"] == 0


def test_an_overlong_channel_is_refused_as_a_bad_parameter(
    api: tuple[Container, dict[str, str]],
) -> None:
    container, auth = api

    async def go() -> int:
        transport = httpx.ASGITransport(app=create_app(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            answer = await client.get(
                "/v1/reports/funnel", headers=auth, params={"channel": "x" * 201}
            )
            return answer.status_code

    assert asyncio.run(go()) == 422
