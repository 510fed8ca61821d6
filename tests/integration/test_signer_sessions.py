"""Verified signer sessions through the real app in-process (ASGI), with the sandbox provider
mounted where `inkbridge serve` mounts it, on SQLite and PostgreSQL: what is refused, that a
link works once and briefly, that the browser is bound, and the evidence left behind."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from inkbridge.api.app import create_app
from inkbridge.bootstrap import SANDBOX_PROVIDER_PATH, Container, bootstrap
from inkbridge.domain.signer_session import SIGNER_COOKIE, AuthMethod
from inkbridge.ids import hash_identifier
from inkbridge.providers.sandbox.client import SandboxProviderClient
from inkbridge.sandbox.provider import SandboxProvider, create_provider_app
from inkbridge.services.replay import verify_chains
from inkbridge.services.signer_sessions import SessionRequest
from inkbridge.services.tokens import create_token
from inkbridge.store.schema import audit_log, envelopes, signer_sessions
from tests.support.builders import SECRET, event_body, make_settings, store_delivery
from tests.support.worker import drain_receipts

PUBLIC = "https://ink.test"
APP = "https://app.example.test"
CRM_APP = "https://crm.example.test:8443"
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.6478.126 Safari/537.36"
)


@dataclass
class World:
    container: Container
    sandbox: SandboxProvider
    transport: httpx.ASGITransport
    api: httpx.AsyncClient
    lead_id: str
    envelope_id: str
    email: str = "Ada.Lovelace@Example.com"

    def body(self, **changes: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "recipient_id": "1",
            "email": self.email,
            "subject": "user-4711",
            "auth_method": "sso",
            "authenticated_at": (datetime.now(UTC) - timedelta(minutes=2)).isoformat(),
        }
        body.update(changes)
        return {k: v for k, v in body.items() if v is not None}

    async def issue(self, **changes: Any) -> httpx.Response:
        return await self.api.post(
            f"/v1/envelopes/{self.envelope_id}/signing-session", json=self.body(**changes)
        )

    async def issued_url(self, **changes: Any) -> str:
        answer = await self.issue(**changes)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["url"])

    async def visit_link(self, *methods: str) -> list[httpx.Response]:
        """Issue a signing link and request it with ``methods``, in turn, from one browser."""
        url = await self.issued_url()
        async with self.browser() as browser:
            return [await browser.request(method, url) for method in methods]

    def browser(self, user_agent: str = CHROME) -> httpx.AsyncClient:
        """A fresh browser: its own cookie jar, following no redirects by itself."""
        return httpx.AsyncClient(
            transport=self.transport, base_url=PUBLIC, headers={"user-agent": user_agent}
        )

    def sessions(self) -> list[Any]:
        with self.container.databases.home.reader() as conn:
            return list(conn.execute(select(signer_sessions).order_by(signer_sessions.c.issued_at)))

    def audit(self, action: str) -> list[Any]:
        with self.container.databases.home.reader() as conn:
            return list(
                conn.execute(
                    select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.seq)
                )
            )

    def provider_links(self) -> int:
        return len(self.sandbox.db.fetch("SELECT token FROM tokens"))

    def set_state(self, state: str) -> None:
        with self.container.databases.home.transaction() as conn:
            conn.execute(
                update(envelopes).where(envelopes.c.id == self.envelope_id).values(state=state)
            )


@pytest.fixture
async def world(tmp_path: Path, db_url: str) -> AsyncIterator[World]:
    settings = make_settings(
        tmp_path,
        db_url,
        server={"public_url": PUBLIC},
        connections={
            "sandbox": {
                "provider": "sandbox",
                "secrets": [f"file:{tmp_path / 'sandbox.secret'}"],
                "return_origins": [CRM_APP],
            }
        },
        templates={"nda": {"title": "Mutual NDA", "version": 3, "return_origins": [APP + "/"]}},
    )
    container = bootstrap(settings, auto_migrate=True)
    provider_app = create_provider_app(
        state_path=None,
        webhook_url="http://127.0.0.1:9/unused",
        webhook_secret=SECRET,
        public_url=PUBLIC + SANDBOX_PROVIDER_PATH,
    )
    app = create_app(container, sandbox_apps=[(SANDBOX_PROVIDER_PATH, provider_app, None)])
    transport = httpx.ASGITransport(app=app)
    internal = httpx.AsyncClient(transport=transport, base_url=PUBLIC)
    container.providers["sandbox"] = SandboxProviderClient(PUBLIC + SANDBOX_PROVIDER_PATH, internal)
    _, token = create_token(container.databases, "integrator", ["leads:write", "envelopes:write"])
    api = httpx.AsyncClient(
        transport=transport, base_url=PUBLIC, headers={"Authorization": f"Bearer {token}"}
    )
    lead = await api.post(
        "/v1/leads", json={"email": "ada.lovelace@example.com", "first_name": "Ada"}
    )
    envelope = await api.post(
        "/v1/envelopes", json={"lead_id": lead.json()["id"], "template_key": "nda"}
    )
    assert envelope.status_code == 201, envelope.text
    yield World(
        container=container,
        sandbox=provider_app.state.sandbox,
        transport=transport,
        api=api,
        lead_id=lead.json()["id"],
        envelope_id=envelope.json()["id"],
    )
    await api.aclose()
    await internal.aclose()
    provider_app.state.sandbox.close()
    container.databases.dispose()


# -- issuing ---------------------------------------------------------------------------------


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


# -- redeeming -------------------------------------------------------------------------------


async def test_opening_the_link_binds_the_browser_and_leads_to_the_signing_page(
    world: World,
) -> None:
    url = await world.issued_url(return_url=APP + "/signed")

    async with world.browser() as browser:
        opened = await browser.get(url)
        assert opened.status_code == 303
        provider_url = opened.headers["location"]
        assert provider_url.startswith(PUBLIC + SANDBOX_PROVIDER_PATH + "/sign/")
        cookie = opened.headers["set-cookie"]
        assert cookie.startswith(SIGNER_COOKIE + "=")
        for attribute in ("Secure", "HttpOnly", "Path=/", "SameSite=lax"):
            assert attribute in cookie
        assert "Domain" not in cookie
        assert opened.headers["cache-control"] == "no-store"
        assert opened.headers["referrer-policy"] == "no-referrer"

        page = await browser.get(provider_url)
        assert page.status_code == 200
        assert "Mutual NDA" in page.text
        signed = await browser.post(provider_url + "/sign")

    assert signed.status_code == 303
    assert signed.headers["location"].startswith(APP + "/signed?event=signing_complete")
    described = world.sandbox.book.describe(
        world.sandbox.db.fetch("SELECT id FROM envelopes")[0][0]
    )
    assert described is not None and described["status"] == "completed"


async def test_the_provider_page_refuses_another_browser(world: World) -> None:
    url = await world.issued_url()
    async with world.browser() as signer:
        provider_url = (await signer.get(url)).headers["location"]

    async with world.browser() as stranger:
        page = await stranger.get(provider_url)
        signed = await stranger.post(provider_url + "/sign")

    assert [page.status_code, signed.status_code] == [403, 403]
    assert "Mutual NDA" not in page.text
    (row,) = world.sandbox.db.fetch("SELECT status FROM envelopes")
    assert row["status"] == "sent"


async def test_a_used_link_gets_a_plain_410_page(world: World) -> None:
    first, again = await world.visit_link("GET", "GET")

    assert first.status_code == 303
    assert again.status_code == 410
    assert again.headers["content-type"].startswith("text/html")
    assert again.headers["cache-control"] == "no-store"
    assert again.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in again.headers["content-security-policy"]
    assert "set-cookie" not in again.headers
    assert "ssn_" not in again.text and "env_" not in again.text
    assert world.provider_links() == 1


async def test_an_unknown_link_gets_the_same_410_page(world: World) -> None:
    async with world.browser() as browser:
        unknown = await browser.get("/sign/" + "A" * 43)
        junk = await browser.get("/sign/%00' or 1=1")

    assert [unknown.status_code, junk.status_code] == [410, 410]


async def test_an_expired_link_gets_410(world: World) -> None:
    past = datetime.now(UTC) - timedelta(minutes=6)
    issued = world.container.services.signer_sessions.issue_session(
        world.envelope_id,
        SessionRequest(
            recipient_id="1",
            email=world.email,
            subject="user-4711",
            auth_method=AuthMethod.OTP,
            authenticated_at=past - timedelta(minutes=1),
        ),
        now=past,
    )

    async with world.browser() as browser:
        answer = await browser.get(issued.url)

    assert answer.status_code == 410
    (row,) = world.sessions()
    assert row.redeemed_at is None
    assert world.provider_links() == 0


async def test_a_head_request_does_not_spend_the_link(world: World) -> None:
    head, get = await world.visit_link("HEAD", "GET")

    assert head.status_code == 405
    assert get.status_code == 303


async def test_of_concurrent_redemptions_exactly_one_wins(world: World) -> None:
    url = await world.issued_url()
    browsers = [world.browser() for _ in range(6)]

    answers = await asyncio.gather(*(b.get(url) for b in browsers))
    for browser in browsers:
        await browser.aclose()

    assert sorted(a.status_code for a in answers) == [303, 410, 410, 410, 410, 410]
    assert sum("set-cookie" in a.headers for a in answers) == 1
    assert len(world.audit("web:signer_session:redeemed")) == 1
    assert world.provider_links() == 1


async def test_a_new_session_revokes_the_older_unredeemed_ones(world: World) -> None:
    first = await world.issue()
    second = await world.issue()
    third = await world.issue()

    async with world.browser() as browser:
        old = await browser.get(first.json()["url"])
        older = await browser.get(second.json()["url"])
        new = await browser.get(third.json()["url"])

    assert [old.status_code, older.status_code, new.status_code] == [410, 410, 303]
    rows = {r.id: r for r in world.sessions()}
    assert rows[first.json()["session_id"]].revoked_at is not None
    assert rows[second.json()["session_id"]].revoked_at is not None
    assert rows[third.json()["session_id"]].redeemed_at is not None
    last_issue = world.audit("api:signer_session:issued")[-1]
    assert last_issue.details["revoked_sessions"] == [second.json()["session_id"]]


async def test_a_session_for_an_envelope_finished_meanwhile_is_not_redeemed(world: World) -> None:
    url = await world.issued_url()
    world.set_state("voided")

    async with world.browser() as browser:
        answer = await browser.get(url)

    assert answer.status_code == 410
    assert world.sessions()[0].redeemed_at is None
    assert world.provider_links() == 0


# -- evidence --------------------------------------------------------------------------------


async def test_the_evidence_is_audited_and_shown_in_the_trace_and_the_consent_receipt(
    world: World,
) -> None:
    authenticated = datetime.now(UTC) - timedelta(minutes=3)
    session = await world.issue(auth_method="passkey", authenticated_at=authenticated.isoformat())
    async with world.browser() as browser:
        assert (await browser.get(session.json()["url"])).status_code == 303

    (issued,) = world.audit("api:signer_session:issued")
    (redeemed,) = world.audit("web:signer_session:redeemed")
    subject = hashlib.sha256(b"user-4711").hexdigest()
    assert issued.subject_id == redeemed.subject_id == world.envelope_id
    assert issued.details["subject_sha256"] == redeemed.details["subject_sha256"] == subject
    assert redeemed.details["auth_method"] == "passkey"
    assert redeemed.details["authenticated_at"] == authenticated.isoformat()
    assert redeemed.details["ip_sha256"] == hash_identifier("127.0.0.0/24")
    assert redeemed.details["user_agent_sha256"] == hash_identifier("Chrome 126")
    assert "user-4711" not in str(issued.details) + str(redeemed.details)
    assert "lovelace" not in (str(issued.details) + str(redeemed.details)).lower()
    assert verify_chains(world.container.databases) == []

    _, reader = create_token(world.container.databases, "auditor", ["read"])
    auditor = {"Authorization": f"Bearer {reader}"}
    view = (await world.api.get(f"/v1/envelopes/{world.envelope_id}", headers=auditor)).json()
    trace = (await world.api.get(f"/v1/trace/{view['correlation_id']}", headers=auditor)).json()
    (evidence,) = trace["signer_sessions"]
    assert evidence["status"] == "redeemed"
    assert evidence["session_id"] == session.json()["session_id"]
    assert evidence["subject_sha256"] == subject
    assert evidence["auth_method"] == "passkey"
    assert evidence["ip"] == "127.0.0.0/24"
    assert evidence["user_agent"] == "Chrome 126"
    assert [a["action"] for a in evidence["audit"]] == [
        "api:signer_session:issued",
        "web:signer_session:redeemed",
    ]
    assert [a["hash"] for a in evidence["audit"]] == [issued.hash, redeemed.hash]

    # The envelope completes; its contract_execution record carries the evidence.
    provider_ref = view["provider_envelope_id"]
    metadata = {"inkbridge_envelope_id": world.envelope_id}
    for kind in ("document_sent", "document_completed"):
        store_delivery(
            world.container.databases.home,
            event_body(kind, provider_ref, datetime.now(UTC), "1", metadata),
        )
    drain_receipts(world.container)
    receipt = (await world.api.get(f"/v1/consents/{world.lead_id}/receipt", headers=auditor)).json()
    assert [e["session_id"] for e in receipt["signerAuthentication"]] == [evidence["session_id"]]
    (contract,) = [r for r in receipt["records"] if r["purpose"] == "contract_execution"]
    assert contract["signerAuthentication"][0]["auth_method"] == "passkey"
    assert contract["signerAuthentication"][0]["redeemed_at"] == evidence["redeemed_at"]


async def test_the_trace_lists_revoked_and_open_sessions_but_the_receipt_only_redeemed_ones(
    world: World,
) -> None:
    await world.issue()
    await world.issue()

    _, reader = create_token(world.container.databases, "auditor", ["read"])
    auditor = {"Authorization": f"Bearer {reader}"}
    view = (await world.api.get(f"/v1/envelopes/{world.envelope_id}", headers=auditor)).json()
    trace = (await world.api.get(f"/v1/trace/{view['correlation_id']}", headers=auditor)).json()
    receipt = (await world.api.get(f"/v1/consents/{world.lead_id}/receipt", headers=auditor)).json()

    assert [s["status"] for s in trace["signer_sessions"]] == ["revoked", "open"]
    assert receipt["signerAuthentication"] == []
