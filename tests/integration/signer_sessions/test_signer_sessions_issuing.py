"""Issuing verified signer sessions through the real app in-process (ASGI), on SQLite and
PostgreSQL: a one-time link on inkbridge, and what is refused (wrong email, stale or odd
authentication, return URLs off the allow lists, finished or unknown envelopes, missing scope)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from inkbridge.services.tokens import create_token

from .support import APP, CRM_APP, PUBLIC, World


async def test_a_session_is_a_one_time_link_on_inkbridge_and_the_provider_is_not_asked_yet(
    world: World,
) -> None:
    answer = await world.issue(return_url=APP + "/signed?deal=7")

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"url", "expires_at", "session_id"}
    assert body["url"].startswith(PUBLIC + "/sign/")
    opaque = body["url"].rsplit("/", 1)[1]
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(minutes=4) < expires - datetime.now(UTC) <= timedelta(minutes=5)
    (row,) = world.sessions()
    assert row.id == body["session_id"]
    assert row.token_hash == hashlib.sha256(opaque.encode()).hexdigest()
    assert opaque not in str(tuple(row))  # only the hash is kept
    assert row.subject_hash == hashlib.sha256(b"user-4711").hexdigest()
    assert row.auth_method == "sso"
    assert world.provider_links() == 0


async def test_the_signers_email_matches_whatever_its_case(world: World) -> None:
    answer = await world.issue(email="  ADA.LOVELACE@example.COM ")

    assert answer.status_code == 200, answer.text


async def test_a_wrong_email_is_refused_without_echoing_either_address(world: World) -> None:
    answer = await world.issue(email="mallory@example.com")

    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/problem+json"
    assert "mallory" not in answer.text
    assert "lovelace" not in answer.text.lower()
    assert world.sessions() == []
    assert world.audit("api:signer_session:issued") == []


@pytest.mark.parametrize(
    ("minutes_ago", "words"), [(11, "authenticated more than 10 minutes ago"), (-5, "future")]
)
async def test_a_stale_or_future_authentication_is_refused(
    world: World, minutes_ago: int, words: str
) -> None:
    moment = datetime.now(UTC) - timedelta(minutes=minutes_ago)

    answer = await world.issue(authenticated_at=moment.isoformat())

    assert answer.status_code == 422
    assert answer.json()["field"] == "authenticated_at"
    assert words in answer.json()["detail"]
    assert world.sessions() == []


async def test_an_authentication_time_without_a_zone_or_an_unknown_method_is_invalid(
    world: World,
) -> None:
    naive = await world.issue(authenticated_at=datetime.now(UTC).replace(tzinfo=None).isoformat())
    unknown = await world.issue(auth_method="trust_me")
    missing = await world.api.post(
        f"/v1/envelopes/{world.envelope_id}/signing-session", json={"email": world.email}
    )
    too_long = await world.issue(subject="x" * 201)

    assert [naive.status_code, unknown.status_code, missing.status_code] == [422, 422, 422]
    assert too_long.status_code == 422
    assert world.sessions() == []


@pytest.mark.parametrize(
    "return_url",
    [
        "https://evil.example.test/done",
        "https://app.example.test.evil.test/done",
        "https://app.example.test@evil.test/done",
        "http://app.example.test/done",
        "https://app.example.test:444/done",
        "https://crm.example.test/done",  # the connection allows port 8443 only
        "https://app.example.test\\@evil.test/",
        "javascript:alert(1)",
        "//app.example.test/done",
    ],
)
async def test_a_return_url_off_the_allow_list_is_refused(world: World, return_url: str) -> None:
    answer = await world.issue(return_url=return_url)

    assert answer.status_code == 422
    assert answer.json()["field"] == "return_url"
    assert "evil" not in answer.text
    assert world.sessions() == []


@pytest.mark.parametrize(
    "return_url", [APP + "/done", "HTTPS://APP.example.test:443/x", CRM_APP + "/deals/7"]
)
async def test_a_return_url_on_the_templates_or_connections_allow_list_is_taken(
    world: World, return_url: str
) -> None:
    answer = await world.issue(return_url=return_url)

    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("state", ["completed", "declined", "voided", "expired"])
async def test_a_finished_envelope_answers_409(world: World, state: str) -> None:
    world.set_state(state)

    answer = await world.issue()

    assert answer.status_code == 409
    assert answer.headers["content-type"] == "application/problem+json"
    assert state in answer.json()["detail"]


async def test_an_unknown_envelope_or_recipient_is_404(world: World) -> None:
    recipient = await world.issue(recipient_id="9")
    envelope = await world.api.post("/v1/envelopes/env_missing/signing-session", json=world.body())

    assert [recipient.status_code, envelope.status_code] == [404, 404]


async def test_issuing_needs_the_envelopes_write_scope(world: World) -> None:
    _, reader = create_token(world.container.databases, "reader", ["read"])

    answer = await world.api.post(
        f"/v1/envelopes/{world.envelope_id}/signing-session",
        json=world.body(),
        headers={"Authorization": f"Bearer {reader}"},
    )

    assert answer.status_code == 403
    assert world.sessions() == []
