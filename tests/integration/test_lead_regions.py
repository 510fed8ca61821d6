"""A lead's region is chosen once, at capture, and recorded: the capture's own ``region``, else
the region of the publishable key of the site it came from, else the ``[residency]`` country
map, else the default region. A region, key or country that names nothing is a 422 and stores
nothing. Through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from inkbridge.api.app import create_app
from inkbridge.bootstrap import Container, bootstrap
from inkbridge.services.publishable_keys import create_key, revoke_key
from inkbridge.services.tokens import create_token
from inkbridge.store.schema import audit_log, leads
from tests.support.regions import region_urls, two_region_settings

RESIDENCY = {"countries": {"DE": "eu", "US": "us"}}


@dataclass
class Api:
    container: Container
    app: Any
    token: str

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                headers = {"Authorization": f"Bearer {self.token}"}
                return await client.request(method, path, headers=headers, **kwargs)

        return asyncio.run(go())

    def capture(self, **fields: str) -> httpx.Response:
        body = {"email": "lin@example.com", "first_name": "Lin", "last_name": "Chen", **fields}
        return self.call("POST", "/v1/leads", json=body)

    def region_of(self, **fields: str) -> str:
        answer = self.capture(**fields)
        assert answer.status_code == 201, answer.text
        lead_id = answer.json()["id"]
        shown = self.call("GET", f"/v1/leads/{lead_id}").json()["region"]
        # Recorded where it lives: in that region's database and nowhere else.
        for region in ("eu", "us"):
            assert self.leads_in(region, lead_id) == (region == shown)
        return str(shown)

    def leads_in(self, region: str, lead_id: str | None = None) -> int:
        query = select(func.count()).select_from(leads)
        if lead_id is not None:
            query = query.where(leads.c.id == lead_id)
        with self.container.databases[region].reader() as conn:
            return int(conn.execute(query).scalar_one())


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    for urls in region_urls(request.param, tmp_path):
        settings = two_region_settings(tmp_path, urls, residency=RESIDENCY)
        container = bootstrap(settings, auto_migrate=True)
        _, token = create_token(container.databases, "test", ["admin"])
        try:
            yield Api(container, create_app(container), token)
        finally:
            container.databases.dispose()


def test_the_capture_names_its_region(api: Api) -> None:
    assert api.region_of(region="us", country="DE") == "us"


def test_the_publishable_key_of_the_site_decides_without_a_region(api: Api) -> None:
    _, us_key = create_key(api.container.databases, "us site", ["https://us.example"], region="us")
    _, any_key = create_key(api.container.databases, "global site", ["https://example.com"])
    assert api.region_of(publishable_key=us_key, country="DE") == "us"
    # A key bound to no region leaves the choice to the country.
    assert api.region_of(publishable_key=any_key, country="us") == "us"


def test_the_country_map_decides_then_the_default_region(api: Api) -> None:
    assert api.region_of(country="US") == "us"
    assert api.region_of(country="de") == "eu"
    assert api.region_of(country="BR") == "eu"  # not in the map: the home region
    assert api.region_of() == "eu"


def test_the_rule_that_chose_is_in_the_capture_audit_entry(api: Api) -> None:
    api.region_of(country="US")
    with api.container.databases["us"].reader() as conn:
        details = conn.execute(
            select(audit_log.c.details).where(audit_log.c.action == "api:lead:captured")
        ).scalar_one()
    assert details["region_rule"] == "country"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"region": "apac"}, "region"),
        ({"country": "XX"}, "country"),
        ({"country": "Germany"}, "country"),
        ({"publishable_key": "pk_not_a_real_key"}, "publishable_key"),
    ],
)
def test_an_unknown_region_country_or_key_is_refused_and_stores_nothing(
    api: Api, fields: dict[str, str], field: str
) -> None:
    answer = api.capture(**fields)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["field"] == field
    assert api.leads_in("eu") == api.leads_in("us") == 0


def test_a_revoked_key_is_refused(api: Api) -> None:
    key_id, key = create_key(api.container.databases, "old", ["https://old.example"], region="us")
    revoke_key(api.container.databases, key_id)
    answer = api.capture(publishable_key=key)
    assert answer.status_code == 422 and answer.json()["field"] == "publishable_key"
