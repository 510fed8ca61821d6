"""Redeeming signer session links through the real app in-process (ASGI), on SQLite and
PostgreSQL: a link works once and briefly, the browser is bound, and the evidence left behind
in the audit log, the trace and the consent receipt."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

from inkbridge.bootstrap import SANDBOX_PROVIDER_PATH
from inkbridge.domain.signer_session import SIGNER_COOKIE, AuthMethod
from inkbridge.ids import hash_identifier
from inkbridge.services.replay import verify_chains
from inkbridge.services.signer_sessions import SessionRequest
from inkbridge.services.tokens import create_token
from tests.support.builders import event_body, store_delivery
from tests.support.worker import drain_receipts

from .support import APP, PUBLIC, World


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
