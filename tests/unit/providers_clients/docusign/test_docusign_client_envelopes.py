"""DocuSignClient against the DocuSign emulator in process (httpx.ASGITransport): envelope
create, recipient view and status, and the emulator's own refusals. Nothing touches the network."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from inkbridge.domain.events import EventType
from inkbridge.errors import PermanentError
from inkbridge.providers.base import Signer, SignerAuthentication, SigningRequest
from inkbridge.providers.docusign.client import DocuSignDocument, DocuSignTemplate

from .support import (
    ACCOUNT,
    ADA,
    HOST,
    Rig,
    make_client,
    needs_vendor,
    spec,
)


async def test_an_embedded_envelope_is_created_viewed_signed_and_read_back(rig: Rig) -> None:
    created = await rig.client.create_envelope(spec())
    url = await rig.client.signing_url(
        SigningRequest(created.provider_envelope_id, ADA, "https://app.test/back")
    )
    page = await rig.http.get(url)
    signed = await rig.http.post(url + "/sign")
    history = await rig.client.fetch_status(created.provider_envelope_id)

    assert created.status == "sent"
    assert page.status_code == 200 and "Ada Lovelace" in page.text
    assert signed.headers["location"] == "https://app.test/back?event=signing_complete"
    assert rig.emulator.envelopes[created.provider_envelope_id].status == "completed"
    assert [e.type for e in history] == [
        EventType.DOCUMENT_SENT,
        EventType.DOCUMENT_VIEWED,
        EventType.RECIPIENT_SIGNED,
        EventType.DOCUMENT_COMPLETED,
    ]
    assert history[2].recipient_id == "1" and history[2].recipient_email == ADA.email
    assert history[-1].metadata == {
        "inkbridge_envelope_id": "env_1",
        "inkbridge_lead_id": "lead_1",
        "inkbridge_correlation_id": "cor_1",
    }


async def test_every_metadata_pair_rides_in_text_custom_fields_within_docusign_limits(
    rig: Rig,
) -> None:
    created = await rig.client.create_envelope(spec())
    envelope = rig.emulator.envelopes[created.provider_envelope_id]
    fields = {f["name"]: f["value"] for f in envelope.text_custom_fields}

    assert set(fields) == set(spec().metadata)
    assert fields["inkbridge_utm_source"] == "newsletter"
    assert len(fields["inkbridge_landing_page"]) == 100  # DocuSign's limit per value
    role = envelope.definition["templateRoles"][0]
    assert role["clientUserId"] == "inkbridge-1"  # embedded: no email from DocuSign
    assert role["tabs"]["textTabs"] == [{"tabLabel": "company", "value": "Analytical Engines"}]
    assert envelope.definition["status"] == "sent"


async def test_a_template_map_names_the_docusign_template_and_its_roles(rig: Rig) -> None:
    client = make_client(
        rig.http, template_map={"tpl_nda": DocuSignTemplate("ds-tpl-42", role_names=("Client",))}
    )
    created = await client.create_envelope(spec())
    definition = rig.emulator.envelopes[created.provider_envelope_id].definition

    assert definition["templateId"] == "ds-tpl-42"
    assert definition["templateRoles"][0]["roleName"] == "Client"


async def test_an_inline_document_is_sent_with_an_anchored_signature(rig: Rig) -> None:
    document = DocuSignDocument(name="NDA.pdf", content=b"%PDF-1.4 sandbox")
    client = make_client(rig.http, template_map={"tpl_nda": DocuSignTemplate(document=document)})
    created = await client.create_envelope(spec())
    url = await client.signing_url(SigningRequest(created.provider_envelope_id, ADA))
    definition = rig.emulator.envelopes[created.provider_envelope_id].definition

    assert "templateId" not in definition
    assert definition["recipients"]["signers"][0]["tabs"]["signHereTabs"][0]["anchorString"]
    assert url.startswith(f"{HOST}/signing/")


async def test_a_verified_session_tells_docusign_how_and_when_the_signer_authenticated(
    rig: Rig,
) -> None:
    sent: list[dict[str, Any]] = []

    async def record(request: httpx.Request) -> None:
        if request.url.path.endswith("/views/recipient"):
            sent.append(json.loads(request.content))

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=rig.app),
        base_url=HOST,
        event_hooks={"request": [record]},
    ) as http:
        client = make_client(http)
        created = await client.create_envelope(spec())
        authenticated = datetime(2026, 12, 3, 10, 58, tzinfo=UTC)
        url = await client.signing_url(
            SigningRequest(
                created.provider_envelope_id,
                ADA,
                "https://app.test/back",
                SignerAuthentication("sso", authenticated, "ab" * 32),
            )
        )
        page = await http.get(url)

    assert page.status_code == 200 and "Ada Lovelace" in page.text
    (view,) = sent
    assert view["clientUserId"] == "inkbridge-1"  # the captive signer created with it
    assert view["authenticationMethod"] == "SingleSignOn_Other"
    assert view["authenticationInstant"] == "2026-12-03T10:58:00+00:00"
    envelope = rig.emulator.envelopes[created.provider_envelope_id]
    assert envelope.definition["templateRoles"][0]["clientUserId"] == "inkbridge-1"


async def test_a_signing_link_works_once(rig: Rig) -> None:
    created = await rig.client.create_envelope(spec())
    url = await rig.client.signing_url(SigningRequest(created.provider_envelope_id, ADA))

    assert (await rig.http.get(url)).status_code == 200
    assert (await rig.http.get(url)).status_code == 410


@pytest.mark.parametrize(
    ("action", "options", "last"),
    [
        ("decline", {}, EventType.DOCUMENT_DECLINED),
        ("void", {"reason": "Wrong terms"}, EventType.DOCUMENT_VOIDED),
        ("expire", {}, EventType.DOCUMENT_EXPIRED),
        ("bounce", {}, EventType.DOCUMENT_DELIVERY_FAILED),
    ],
)
async def test_fetch_status_reports_what_the_envelope_went_through(
    rig: Rig, action: str, options: dict[str, str], last: EventType
) -> None:
    created = await rig.client.create_envelope(spec())
    answer = await rig.http.post(
        f"/_emulator/envelopes/{created.provider_envelope_id}/{action}", json=options
    )
    history = await rig.client.fetch_status(created.provider_envelope_id)

    assert answer.status_code == 200
    assert history[-1].type is last
    assert history[0].type is EventType.DOCUMENT_SENT


async def test_docusign_is_polled_at_most_once_per_15_minutes(rig: Rig) -> None:
    assert rig.client.min_poll_interval_seconds == 900


async def test_the_emulator_refuses_an_unknown_recipient_view(rig: Rig) -> None:
    created = await rig.client.create_envelope(spec())
    stranger = Signer(email="eve@example.test", name="Eve", recipient_id="1")

    with pytest.raises(PermanentError) as refused:
        await rig.client.signing_url(SigningRequest(created.provider_envelope_id, stranger))

    assert "UNKNOWN_ENVELOPE_RECIPIENT" in str(refused.value)


@needs_vendor
async def test_the_emulator_refuses_a_body_off_the_published_definition(rig: Rig) -> None:
    token, _ = rig.emulator.issue_token()
    headers = {"Authorization": f"Bearer {token}"}
    path = f"/restapi/v2.1/accounts/{ACCOUNT}/envelopes"
    typo = await rig.http.post(
        path, json={"status": "sent", "templateId": "t", "templateRole": []}, headers=headers
    )
    wrong_type = await rig.http.post(path, json={"status": True}, headers=headers)

    assert typo.status_code == 400 and typo.json()["errorCode"] == "INVALID_REQUEST_BODY"
    assert "templateRole" in typo.json()["message"]
    assert wrong_type.json()["errorCode"] == "INVALID_REQUEST_BODY"


async def test_the_emulator_refuses_an_envelope_without_recipients(rig: Rig) -> None:
    token, _ = rig.emulator.issue_token()
    answer = await rig.http.post(
        f"/restapi/v2.1/accounts/{ACCOUNT}/envelopes",
        json={"status": "sent", "emailSubject": "Hi", "templateId": "t", "templateRoles": []},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert answer.status_code == 400
    assert answer.json()["errorCode"] == "ENVELOPE_IS_INCOMPLETE"
