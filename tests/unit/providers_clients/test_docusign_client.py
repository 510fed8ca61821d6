"""DocuSignClient against the DocuSign emulator in process (httpx.ASGITransport): JWT grant and
token caching, envelope create / recipient view / status, the emulator's Connect messages checked
against DocuSign's published message and accepted by DocuSignConnectAdapter; error
classification over httpx.MockTransport. Nothing here touches the network."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from inkbridge.domain.events import EventType
from inkbridge.errors import ConfigError, PermanentError, RetryableError
from inkbridge.providers.base import EnvelopeSpec, Signer, SignerAuthentication, SigningRequest
from inkbridge.providers.docusign.adapter import DocuSignConnectAdapter
from inkbridge.providers.docusign.client import (
    DocuSignClient,
    DocuSignDocument,
    DocuSignTemplate,
)
from inkbridge_emulators.docusign import DocuSignEmulator, create_docusign_emulator
from inkbridge_emulators.vendor_schemas import sample_message, swagger_definition
from tests.support.keys import rsa_pem
from tests.support.provider_worlds import AdapterReceiver

VENDOR = Path(__file__).resolve().parents[3].parent / "shared" / "vendor"
SCHEMA_DIR = VENDOR / "docusign"
SWAGGER = SCHEMA_DIR / "esignature.rest.swagger-v2.json"
CONNECT = SCHEMA_DIR / "connect.schema-v2.json"
HAVE_VENDOR = SWAGGER.is_file() and CONNECT.is_file()
needs_vendor = pytest.mark.skipif(
    not HAVE_VENDOR, reason=f"DocuSign's published schema files are absent ({SCHEMA_DIR})"
)

HOST = "http://docusign.test"
ACCOUNT = "acc-1"
INTEGRATION_KEY = "ik-0000"
USER_ID = "user-0000"
CONNECT_KEYS = ["connect-key-1", "connect-key-2"]
ADA = Signer(email="ada@example.test", name="Ada Lovelace", recipient_id="1")


PRIVATE_PEM, PUBLIC_PEM = rsa_pem()


def spec(envelope_id: str = "env_1", template_id: str = "tpl_nda") -> EnvelopeSpec:
    return EnvelopeSpec(
        envelope_id=envelope_id,
        template_id=template_id,
        title="Mutual NDA",
        signers=(ADA,),
        metadata={
            "inkbridge_envelope_id": envelope_id,
            "inkbridge_lead_id": "lead_1",
            "inkbridge_correlation_id": "cor_1",
            "inkbridge_utm_source": "newsletter",
            "inkbridge_landing_page": "https://example.test/" + "p" * 200,
        },
        merge_fields={"company": "Analytical Engines"},
    )


def make_receiver(fail_first: int = 0) -> AdapterReceiver:
    """inkbridge's intake reduced to verify + dedup + parse; can fail the first N deliveries."""
    adapter = DocuSignConnectAdapter([SecretStr(k) for k in CONNECT_KEYS])
    return AdapterReceiver(adapter, "docusign", fail_first=fail_first, strict=True)


@dataclass
class Rig:
    app: Starlette
    emulator: DocuSignEmulator
    http: httpx.AsyncClient
    client: DocuSignClient


def make_client(http: httpx.AsyncClient, **options: Any) -> DocuSignClient:
    defaults: dict[str, Any] = {"default_return_url": "https://app.example.test/signed"}
    return DocuSignClient(
        f"{HOST}/restapi",
        ACCOUNT,
        INTEGRATION_KEY,
        USER_ID,
        options.pop("private_key_pem", PRIVATE_PEM),
        HOST,
        http,
        **(defaults | options),
    )


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    app = create_docusign_emulator(
        connect_url=None,
        connect_keys=CONNECT_KEYS,
        account_id=ACCOUNT,
        schema_dir=SCHEMA_DIR if HAVE_VENDOR else None,
        public_key_pem=PUBLIC_PEM,
        integration_key=INTEGRATION_KEY,
        user_id=USER_ID,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=HOST) as http:
        yield Rig(app, app.state.emulator, http, make_client(http))


# The embedded flow end to end


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


# Access tokens


async def test_the_access_token_is_reused_until_shortly_before_it_expires(rig: Rig) -> None:
    now = [time.time()]  # one clock for the client and the emulator, moved by hand
    rig.emulator.clock = lambda: datetime.fromtimestamp(now[0], tz=UTC)
    client = make_client(rig.http, clock=lambda: now[0])

    created = await client.create_envelope(spec())
    now[0] += 3000
    await client.fetch_status(created.provider_envelope_id)
    exchanges_within_the_hour = client.auth.exchanges
    now[0] += 350  # past expires_in minus the refresh margin
    await client.fetch_status(created.provider_envelope_id)

    assert exchanges_within_the_hour == 1
    assert client.auth.exchanges == 2
    assert rig.emulator.tokens_issued == 2


async def test_a_refused_token_is_replaced_once_and_the_call_succeeds(rig: Rig) -> None:
    created = await rig.client.create_envelope(spec())
    rig.emulator.revoke_tokens()

    history = await rig.client.fetch_status(created.provider_envelope_id)

    assert history[0].type is EventType.DOCUMENT_SENT
    assert rig.emulator.tokens_issued == 2


async def test_an_assertion_signed_with_another_key_is_refused_for_good(rig: Rig) -> None:
    other_private, _ = rsa_pem()
    client = make_client(rig.http, private_key_pem=other_private)

    with pytest.raises(PermanentError) as refused:
        await client.create_envelope(spec())

    assert "invalid_grant" in str(refused.value)
    assert rig.emulator.envelopes == {}


def test_a_key_that_is_not_an_rsa_pem_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError):
        make_client(httpx.AsyncClient(), private_key_pem="not a key")


# The emulator's own checks


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


# Published schemas


@needs_vendor
def test_request_bodies_validate_against_the_published_swagger_definitions() -> None:
    client = make_client(httpx.AsyncClient())
    inline = make_client(
        httpx.AsyncClient(),
        template_map={"tpl_nda": DocuSignTemplate(document=DocuSignDocument("a.pdf", b"%PDF"))},
    )
    envelope = swagger_definition(SWAGGER, "envelopeDefinition")
    view = swagger_definition(SWAGGER, "recipientViewRequest")

    assert envelope.problems(client.envelope_definition(spec())) == []
    assert envelope.problems(inline.envelope_definition(spec())) == []
    assert view.problems(client.recipient_view_request(ADA, "https://app.test/x")) == []


@needs_vendor
async def test_the_emulated_envelope_read_matches_the_published_envelope_definition(
    rig: Rig,
) -> None:
    created = await rig.client.create_envelope(spec())
    await rig.http.post(f"/_emulator/envelopes/{created.provider_envelope_id}/sign")
    token, _ = rig.emulator.issue_token()
    answer = await rig.http.get(
        f"/restapi/v2.1/accounts/{ACCOUNT}/envelopes/{created.provider_envelope_id}",
        params={"include": "recipients,custom_fields"},
        headers={"Authorization": f"Bearer {token}"},
    )

    assert swagger_definition(SWAGGER, "envelope").problems(answer.json()) == []


# Connect webhooks


async def connect_rig(receiver: AdapterReceiver) -> tuple[Starlette, httpx.AsyncClient]:
    hooks = httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver.app()))
    app = create_docusign_emulator(
        connect_url="http://receiver.test/hooks",
        connect_keys=CONNECT_KEYS,
        account_id=ACCOUNT,
        schema_dir=SCHEMA_DIR if HAVE_VENDOR else None,
        client=hooks,
        retry_base_seconds=0.01,
    )
    await app.state.emulator.start()
    return app, hooks


async def run_lifecycle(app: Starlette, actions: list[str]) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=HOST) as http:
        client = make_client(http)
        created = await client.create_envelope(spec())
        for action in actions:
            answer = await http.post(
                f"/_emulator/envelopes/{created.provider_envelope_id}/{action}"
            )
            assert answer.status_code == 200, answer.text


async def test_connect_messages_are_signed_with_every_key_and_parse_to_the_lifecycle() -> None:
    receiver = make_receiver()
    app, hooks = await connect_rig(receiver)
    try:
        await run_lifecycle(app, ["view", "sign"])
        assert await app.state.emulator.drain()
    finally:
        await app.state.emulator.stop()
        await hooks.aclose()

    vendor_events = [e.vendor_event for e in receiver.events]
    assert sorted(vendor_events) == sorted(
        [
            "envelope-sent",
            "recipient-delivered",
            "envelope-delivered",
            "recipient-completed",
            "envelope-completed",
        ]
    )  # recipient-sent is stored but maps to nothing
    assert len(receiver.keys) == len(set(receiver.keys)) == 6
    assert all(e.metadata["inkbridge_envelope_id"] == "env_1" for e in receiver.events)


async def test_a_redelivery_counts_up_retry_count_is_re_signed_and_keeps_its_dedup_key() -> None:
    receiver = make_receiver(fail_first=2)
    app, hooks = await connect_rig(receiver)
    try:
        await run_lifecycle(app, [])
        assert await app.state.emulator.drain()
    finally:
        await app.state.emulator.stop()
        await hooks.aclose()

    by_key: dict[str, list[int]] = {}
    for key, body in zip(receiver.keys, receiver.bodies, strict=True):
        by_key.setdefault(key, []).append(json.loads(body)["retryCount"])
    assert len(by_key) == 2  # envelope-sent and recipient-sent
    assert sorted(by_key.values()) == [[0, 1], [0, 1]]  # one refusal, one redelivery each


@needs_vendor
async def test_every_connect_message_matches_docusigns_published_message(rig: Rig) -> None:
    created = await rig.client.create_envelope(spec())
    other = await rig.client.create_envelope(spec("env_2"))
    third = await rig.client.create_envelope(spec("env_3"))
    for envelope_id, actions in [
        (created.provider_envelope_id, ["bounce", "view", "sign"]),
        (other.provider_envelope_id, ["decline"]),
        (third.provider_envelope_id, ["expire"]),
    ]:
        for action in actions:
            await rig.http.post(f"/_emulator/envelopes/{envelope_id}/{action}")
    validator = sample_message(CONNECT)

    assert {m["event"] for m in rig.emulator.messages} == {
        "envelope-sent",
        "recipient-sent",
        "recipient-autoresponded",
        "recipient-delivered",
        "envelope-delivered",
        "recipient-completed",
        "envelope-completed",
        "recipient-declined",
        "envelope-declined",
        "envelope-voided",
    }
    for message in rig.emulator.messages:
        assert validator.problems(message) == [], message["event"]
    voided = [m for m in rig.emulator.messages if m["event"] == "envelope-voided"]
    assert voided[0]["data"]["envelopeSummary"]["voidedReason"] == "Envelope has expired."


# Error classification at the seam


def mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> DocuSignClient:
    def route(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": "t0k3n", "expires_in": 3600})
        return handler(request)

    return make_client(httpx.AsyncClient(transport=httpx.MockTransport(route)))


@pytest.mark.parametrize(
    ("answer", "retry_after"),
    [
        (httpx.Response(429, headers={"Retry-After": "7"}), 7.0),
        (httpx.Response(503), None),
        (httpx.Response(500, text="<html>oops</html>"), None),
        (httpx.Response(408), None),
    ],
)
async def test_limits_and_outages_are_retryable(
    answer: httpx.Response, retry_after: float | None
) -> None:
    client = mock_client(lambda _: answer)

    with pytest.raises(RetryableError) as failed:
        await client.fetch_status("env-x")

    assert failed.value.retry_after == retry_after


async def test_the_hourly_limit_answered_as_400_is_retryable_until_the_reset() -> None:
    reset = int(time.time()) + 120
    answer = httpx.Response(
        400,
        json={"errorCode": "HOURLY_APIINVOCATION_LIMIT_EXCEEDED", "message": "limit"},
        headers={"X-RateLimit-Reset": str(reset)},
    )
    client = mock_client(lambda _: answer)

    with pytest.raises(RetryableError) as failed:
        await client.fetch_status("env-x")

    assert failed.value.retry_after is not None and 100 < failed.value.retry_after <= 120


async def test_a_refused_request_is_permanent_and_its_reason_quotes_no_personal_data() -> None:
    answer = httpx.Response(
        400,
        json={"errorCode": "INVALID_EMAIL_ADDRESS_FOR_RECIPIENT", "message": "ada@example.test"},
    )
    client = mock_client(lambda _: answer)

    with pytest.raises(PermanentError) as failed:
        await client.create_envelope(spec())

    assert "INVALID_EMAIL_ADDRESS_FOR_RECIPIENT" in str(failed.value)
    assert "ada@" not in str(failed.value)


async def test_a_timeout_is_retryable() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(RetryableError):
        await mock_client(hang).fetch_status("env-x")


async def test_a_second_401_in_a_row_is_permanent_after_exactly_one_refresh() -> None:
    calls: list[str] = []

    def route(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json={"access_token": f"t{len(calls)}", "expires_in": 3600})
        return httpx.Response(401, json={"errorCode": "USER_AUTHENTICATION_FAILED"})

    client = make_client(httpx.AsyncClient(transport=httpx.MockTransport(route)))
    with pytest.raises(PermanentError):
        await client.fetch_status("env-x")

    assert [p.endswith("/oauth/token") for p in calls] == [True, False, True, False]


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(400, json={"error": "consent_required"}), PermanentError),
        (httpx.Response(400, json={"error": "invalid_grant"}), PermanentError),
        (httpx.Response(503), RetryableError),
        (httpx.Response(200, json={"token_type": "Bearer"}), PermanentError),
    ],
)
async def test_token_exchange_failures_are_classified(
    answer: httpx.Response, error: type[Exception]
) -> None:
    client = make_client(httpx.AsyncClient(transport=httpx.MockTransport(lambda _: answer)))

    with pytest.raises(error):
        await client.fetch_status("env-x")


async def test_without_any_return_url_a_signing_url_is_refused_before_calling_docusign() -> None:
    client = make_client(
        httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(500))),
        default_return_url=None,
    )

    with pytest.raises(PermanentError):
        await client.signing_url(SigningRequest("env-x", ADA))
