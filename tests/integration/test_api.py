"""The HTTP API in-process (ASGI): scopes, problem details, consent immutability, lead updates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from inkbridge.bootstrap import bootstrap
from inkbridge.services.publishable_keys import create_key
from inkbridge.services.tokens import create_token
from tests.support.api_calls import TokenApi, call_api
from tests.support.builders import make_settings


@pytest.fixture
def api(tmp_path: Path, sqlite_url: str) -> Iterator[TokenApi]:
    """The API of a container on SQLite, called with an admin token."""
    container = bootstrap(make_settings(tmp_path, sqlite_url), auto_migrate=True)
    _, token = create_token(container.databases, "test", ["admin"])
    yield TokenApi(container, {"Authorization": f"Bearer {token}"})
    container.databases.dispose()


def test_consent_records_cannot_be_changed_or_deleted_through_the_api(api: TokenApi) -> None:
    lead = api.call(
        "POST",
        "/v1/leads",
        json={"email": "c@example.com", "consents": [{"kind": "marketing_email"}]},
    ).json()
    for method in ("PUT", "PATCH", "DELETE"):
        assert api.call(method, "/v1/consents", json={}).status_code == 405
        assert api.call(method, f"/v1/consents/{lead['id']}/receipt").status_code == 405
    withdrawn = api.call(
        "POST",
        "/v1/consents",
        json={"lead_id": lead["id"], "kind": "marketing_email", "status": "withdrawn"},
    )
    assert withdrawn.status_code == 201
    body = withdrawn.json()
    assert [e["status"] for e in body["ledger"]] == ["granted", "withdrawn"]  # appended
    assert body["status"]["marketing_email"] == "withdrawn"


def test_a_consent_naming_a_text_version_must_match_its_hash(api: TokenApi) -> None:
    notice = {"kind": "privacy_notice", "text": "We keep your data in the EU.", "locale": "en"}
    text = api.call("POST", "/v1/consent-texts", json=notice).json()
    assert len(text["sha256"]) == 64
    good = {"kind": "privacy_notice", "text_version_id": text["id"], "text_sha256": text["sha256"]}
    bad = {**good, "text_sha256": "0" * 64}
    ok = api.call("POST", "/v1/leads", json={"email": "a@x.io", "consents": [good]})
    assert ok.status_code == 201
    refused = api.call("POST", "/v1/leads", json={"email": "b@x.io", "consents": [bad]})
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    receipt = api.call("GET", f"/v1/consents/{ok.json()['id']}/receipt")
    assert receipt.json()["records"][0]["notice"]["sha256"] == text["sha256"]


def test_first_touch_cannot_be_patched_but_the_owner_can(api: TokenApi) -> None:
    lead = api.call(
        "POST",
        "/v1/leads",
        json={"email": "o@example.com", "utm_campaign": "launch", "owner": "ann"},
    ).json()
    refused = api.call("PATCH", f"/v1/leads/{lead['id']}", json={"first_touch": {}})
    assert refused.status_code == 422
    changed = api.call("PATCH", f"/v1/leads/{lead['id']}", json={"owner": "bob"}).json()
    assert changed["owner"] == "bob"
    assert changed["first_touch"]["utm_campaign"] == "launch"


def test_errors_are_problem_details(api: TokenApi) -> None:
    missing = api.call("GET", "/v1/leads/lead_nope")
    assert missing.status_code == 404
    assert missing.json()["title"] == "Not found"
    invalid = api.call("POST", "/v1/leads", json={"email": "not-an-email"})
    assert invalid.status_code == 422
    assert call_api(api.container, "GET", "/v1/leads/x").status_code == 401


def test_anonymous_touches_stitch_into_the_first_touch_when_the_visitor_converts(
    api: TokenApi,
) -> None:
    _, key = create_key(api.container.databases, "site", ["https://www.example.com"])
    early = {"anonymous_id": "anon-42", "utm_source": "podcast", "utm_campaign": "q3-audio"}
    # Public: a publishable key and an origin it allows, no bearer token.
    answer = call_api(
        api.container,
        "POST",
        f"/v1/touchpoints?key={key}",
        json=early,
        headers={"Origin": "https://www.example.com"},
    )
    assert answer.status_code == 202
    lead = api.call(
        "POST",
        "/v1/leads",
        json={"email": "v@example.com", "anonymous_id": "anon-42", "utm_campaign": "retarget"},
    ).json()
    assert lead["first_touch"]["utm_campaign"] == "q3-audio"
    assert lead["first_touch"]["utm_source"] == "podcast"
