"""The HTTP API in-process (ASGI): scopes, problem details, consent immutability, lead updates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from inkbridge.bootstrap import Container, bootstrap
from inkbridge.services.publishable_keys import create_key
from inkbridge.services.tokens import create_token
from tests.support.api_calls import call_api
from tests.support.builders import make_settings


@pytest.fixture
def api(tmp_path: Path, sqlite_url: str) -> Iterator[tuple[Container, dict[str, str]]]:
    container = bootstrap(make_settings(tmp_path, sqlite_url), auto_migrate=True)
    _, token = create_token(container.databases, "test", ["admin"])
    yield container, {"Authorization": f"Bearer {token}"}
    container.databases.dispose()


def test_consent_records_cannot_be_changed_or_deleted_through_the_api(
    api: tuple[Container, dict[str, str]],
) -> None:
    container, auth = api
    lead = call_api(
        container,
        "POST",
        "/v1/leads",
        headers=auth,
        json={"email": "c@example.com", "consents": [{"kind": "marketing_email"}]},
    ).json()
    for method in ("PUT", "PATCH", "DELETE"):
        answer = call_api(container, method, "/v1/consents", headers=auth, json={})
        assert answer.status_code == 405
        answer = call_api(container, method, f"/v1/consents/{lead['id']}/receipt", headers=auth)
        assert answer.status_code == 405
    withdrawn = call_api(
        container,
        "POST",
        "/v1/consents",
        headers=auth,
        json={"lead_id": lead["id"], "kind": "marketing_email", "status": "withdrawn"},
    )
    assert withdrawn.status_code == 201
    body = withdrawn.json()
    assert [e["status"] for e in body["ledger"]] == ["granted", "withdrawn"]  # appended
    assert body["status"]["marketing_email"] == "withdrawn"


def test_a_consent_naming_a_text_version_must_match_its_hash(
    api: tuple[Container, dict[str, str]],
) -> None:
    container, auth = api
    text = call_api(
        container,
        "POST",
        "/v1/consent-texts",
        headers=auth,
        json={"kind": "privacy_notice", "text": "We keep your data in the EU.", "locale": "en"},
    ).json()
    assert len(text["sha256"]) == 64
    good = {"kind": "privacy_notice", "text_version_id": text["id"], "text_sha256": text["sha256"]}
    bad = {**good, "text_sha256": "0" * 64}
    ok = call_api(
        container, "POST", "/v1/leads", headers=auth, json={"email": "a@x.io", "consents": [good]}
    )
    assert ok.status_code == 201
    refused = call_api(
        container, "POST", "/v1/leads", headers=auth, json={"email": "b@x.io", "consents": [bad]}
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    receipt = call_api(container, "GET", f"/v1/consents/{ok.json()['id']}/receipt", headers=auth)
    assert receipt.json()["records"][0]["notice"]["sha256"] == text["sha256"]


def test_first_touch_cannot_be_patched_but_the_owner_can(
    api: tuple[Container, dict[str, str]],
) -> None:
    container, auth = api
    lead = call_api(
        container,
        "POST",
        "/v1/leads",
        headers=auth,
        json={"email": "o@example.com", "utm_campaign": "launch", "owner": "ann"},
    ).json()
    refused = call_api(
        container, "PATCH", f"/v1/leads/{lead['id']}", headers=auth, json={"first_touch": {}}
    )
    assert refused.status_code == 422
    changed = call_api(
        container, "PATCH", f"/v1/leads/{lead['id']}", headers=auth, json={"owner": "bob"}
    ).json()
    assert changed["owner"] == "bob"
    assert changed["first_touch"]["utm_campaign"] == "launch"


def test_errors_are_problem_details(api: tuple[Container, dict[str, str]]) -> None:
    container, auth = api
    missing = call_api(container, "GET", "/v1/leads/lead_nope", headers=auth)
    assert missing.status_code == 404
    assert missing.json()["title"] == "Not found"
    invalid = call_api(container, "POST", "/v1/leads", headers=auth, json={"email": "not-an-email"})
    assert invalid.status_code == 422
    assert call_api(container, "GET", "/v1/leads/x").status_code == 401


def test_anonymous_touches_stitch_into_the_first_touch_when_the_visitor_converts(
    api: tuple[Container, dict[str, str]],
) -> None:
    container, auth = api
    _, key = create_key(container.databases, "site", ["https://www.example.com"])
    early = {"anonymous_id": "anon-42", "utm_source": "podcast", "utm_campaign": "q3-audio"}
    # Public: a publishable key and an origin it allows, no bearer token.
    answer = call_api(
        container,
        "POST",
        f"/v1/touchpoints?key={key}",
        json=early,
        headers={"Origin": "https://www.example.com"},
    )
    assert answer.status_code == 202
    lead = call_api(
        container,
        "POST",
        "/v1/leads",
        headers=auth,
        json={"email": "v@example.com", "anonymous_id": "anon-42", "utm_campaign": "retarget"},
    ).json()
    assert lead["first_touch"]["utm_campaign"] == "q3-audio"
    assert lead["first_touch"]["utm_source"] == "podcast"
