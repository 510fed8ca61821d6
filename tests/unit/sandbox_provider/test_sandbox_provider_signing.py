"""The sandbox provider's signing flow in process: per-recipient events, view, sign and decline,
the signing page, and single-use, browser-bound, expiring signing links."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from inkbridge.domain.events import EventType
from inkbridge.domain.signer_session import SIGNER_COOKIE
from inkbridge.errors import PermanentError
from inkbridge.providers.base import Signer, SigningRequest
from inkbridge.providers.sandbox.client import SandboxProviderClient
from inkbridge.sandbox.provider_store import EnvelopeBook

from .support import BINDING, Sandbox


async def test_creating_an_envelope_emits_a_signed_document_sent_per_recipient(
    sandbox: Sandbox,
) -> None:
    envelope_id = await sandbox.create(signers=2)
    await sandbox.idle()

    events = [d.event for d in sandbox.receiver.accepted]
    assert [(e.type, e.recipient_id) for e in events] == [
        (EventType.DOCUMENT_SENT, "1"),
        (EventType.DOCUMENT_SENT, "2"),
    ]
    assert all(e.provider_envelope_id == envelope_id for e in events)
    assert events[0].recipient_email == "s1@example.test"
    assert events[0].metadata == {"envelope_id": "env_1", "lead_id": "lead_1"}
    assert sandbox.receiver.refused == 0
    assert envelope_id.startswith("sbx_")


async def test_view_then_sign_by_every_recipient_completes_the_envelope(sandbox: Sandbox) -> None:
    envelope_id = await sandbox.create(signers=2)
    for recipient in ("1", "2"):
        url = await sandbox.signing_link(envelope_id, recipient)
        page = await sandbox.api.get(url)
        assert page.status_code == 200
        assert f"Signer {recipient}" in page.text
        signed = await sandbox.api.post(url + "/sign")
        assert signed.status_code == 200
        assert 'data-outcome="signed"' in signed.text
    await sandbox.idle()

    assert sandbox.receiver.types() == [
        "document_sent",
        "document_sent",
        "document_viewed",
        "recipient_signed",
        "document_viewed",
        "recipient_signed",
        "document_completed",
    ]
    status = (await sandbox.api.get(f"/envelopes/{envelope_id}")).json()
    assert status["status"] == "completed"
    assert [r["status"] for r in status["recipients"]] == ["signed", "signed"]
    assert len(status["events"]) == 7
    assert {e["delivery"] for e in status["events"]} == {"delivered"}


async def test_only_the_first_view_emits_document_viewed(sandbox: Sandbox) -> None:
    envelope_id = await sandbox.create()
    url = await sandbox.signing_link(envelope_id, "1")

    for _ in range(3):
        assert (await sandbox.api.get(url)).status_code == 200
    await sandbox.idle()

    assert sandbox.receiver.types().count("document_viewed") == 1


async def test_a_signing_link_is_single_use(sandbox: Sandbox) -> None:
    envelope_id = await sandbox.create(signers=2)
    url = await sandbox.signing_link(envelope_id, "1")
    await sandbox.api.post(url + "/sign")

    again = await sandbox.api.get(url)
    resign = await sandbox.api.post(url + "/sign")

    assert again.status_code == 410
    assert resign.status_code == 410
    assert "already been used" in again.text
    await sandbox.idle()
    assert sandbox.receiver.types().count("recipient_signed") == 1


async def test_decline_emits_document_declined_and_returns_to_the_caller(
    sandbox: Sandbox,
) -> None:
    envelope_id = await sandbox.create(signers=2)
    url = await sandbox.signing_link(envelope_id, "2", return_url="https://app.example.test/done")

    declined = await sandbox.api.post(url + "/decline")
    await sandbox.idle()

    assert declined.status_code == 303
    assert declined.headers["location"] == (
        f"https://app.example.test/done?event=decline&envelope_id={envelope_id}"
    )
    assert sandbox.receiver.types()[-1] == "document_declined"
    assert sandbox.receiver.accepted[-1].event.recipient_id == "2"
    status = (await sandbox.api.get(f"/envelopes/{envelope_id}")).json()
    assert status["status"] == "declined"
    refused = await sandbox.api.post(
        f"/envelopes/{envelope_id}/signing-url", json={"recipient_id": "1", "binding": BINDING}
    )
    assert refused.status_code == 409


async def test_the_signing_page_is_plain_accessible_html_with_escaped_values(
    sandbox: Sandbox,
) -> None:
    envelope_id = await sandbox.create(title="<script>alert(1)</script> NDA")
    page = await sandbox.api.get(await sandbox.signing_link(envelope_id, "1"))

    assert page.headers["content-type"].startswith("text/html")
    assert '<html lang="en">' in page.text
    assert "<script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; NDA" in page.text
    assert '<button type="submit" class="sign">Sign</button>' in page.text
    assert "Decline</button>" in page.text
    assert "http" not in page.text.split("<body>")[0]  # no external assets in the head
    assert "default-src 'none'" in page.headers["content-security-policy"]


async def test_a_return_url_must_be_http(sandbox: Sandbox) -> None:
    envelope_id = await sandbox.create()

    response = await sandbox.api.post(
        f"/envelopes/{envelope_id}/signing-url",
        json={"recipient_id": "1", "return_url": "javascript:alert(1)", "binding": BINDING},
    )

    assert response.status_code == 400


async def test_a_signing_link_needs_a_browser_binding(sandbox: Sandbox) -> None:
    envelope_id = await sandbox.create()

    response = await sandbox.api.post(
        f"/envelopes/{envelope_id}/signing-url", json={"recipient_id": "1"}
    )

    assert response.status_code == 400
    with pytest.raises(PermanentError):
        await SandboxProviderClient("http://sandbox", sandbox.api).signing_url(
            SigningRequest(envelope_id, Signer("s1@example.test", "Signer 1", "1"))
        )


@pytest.mark.parametrize("cookie", [None, "another-browser"])
async def test_the_signing_page_refuses_a_browser_without_the_bound_cookie(
    sandbox: Sandbox, cookie: str | None
) -> None:
    envelope_id = await sandbox.create()
    url = await sandbox.signing_link(envelope_id, "1")
    sandbox.api.cookies.clear()
    if cookie is not None:
        sandbox.api.cookies.set(SIGNER_COOKIE, cookie)

    page = await sandbox.api.get(url)
    signed = await sandbox.api.post(url + "/sign")
    declined = await sandbox.api.post(url + "/decline")
    await sandbox.idle()

    assert [page.status_code, signed.status_code, declined.status_code] == [403, 403, 403]
    assert "Signer 1" not in page.text
    assert page.headers["cache-control"] == "no-store"
    status = (await sandbox.api.get(f"/envelopes/{envelope_id}")).json()
    assert status["status"] == "sent"
    assert status["recipients"][0]["status"] == "sent"
    assert sandbox.receiver.types() == ["document_sent"]


async def test_a_new_link_revokes_the_recipients_older_ones(sandbox: Sandbox) -> None:
    envelope_id = await sandbox.create(signers=2)
    older = await sandbox.signing_link(envelope_id, "1")
    other_recipient = await sandbox.signing_link(envelope_id, "2")
    newer = await sandbox.signing_link(envelope_id, "1")

    stale = await sandbox.api.get(older)
    stale_sign = await sandbox.api.post(older + "/sign")

    assert stale.status_code == 410
    assert stale_sign.status_code == 410
    assert (await sandbox.api.get(newer)).status_code == 200
    assert (await sandbox.api.get(other_recipient)).status_code == 200


async def test_a_link_expires_unopened_and_a_session_expires_after_opening(
    sandbox: Sandbox,
) -> None:
    envelope_id = await sandbox.create(signers=2)
    unopened = await sandbox.signing_link(envelope_id, "1")
    opened = await sandbox.signing_link(envelope_id, "2")
    assert (await sandbox.api.get(opened)).status_code == 200
    issued = datetime.now(UTC)

    def later(minutes: float) -> None:
        sandbox.provider.book = EnvelopeBook(
            sandbox.provider.db, clock=lambda: issued + timedelta(minutes=minutes)
        )

    later(6)
    assert (await sandbox.api.get(unopened)).status_code == 410
    assert (await sandbox.api.get(opened)).status_code == 200  # within its 30 minutes
    later(45)
    assert (await sandbox.api.post(opened + "/sign")).status_code == 410
    status = (await sandbox.api.get(f"/envelopes/{envelope_id}")).json()
    assert [r["status"] for r in status["recipients"]] == ["sent", "viewed"]
