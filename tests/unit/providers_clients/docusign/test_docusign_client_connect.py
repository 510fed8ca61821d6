"""inkbridge's DocuSign requests and the emulator's answers checked against DocuSign's published
definitions, and the emulator's Connect messages accepted by DocuSignConnectAdapter."""

from __future__ import annotations

import json

import httpx
from starlette.applications import Starlette

from inkbridge.providers.docusign.client import DocuSignDocument, DocuSignTemplate
from inkbridge_emulators.docusign import create_docusign_emulator
from inkbridge_emulators.vendor_schemas import sample_message, swagger_definition
from tests.support.provider_worlds import AdapterReceiver

from .support import (
    ACCOUNT,
    ADA,
    CONNECT,
    CONNECT_KEYS,
    HAVE_VENDOR,
    HOST,
    SCHEMA_DIR,
    SWAGGER,
    Rig,
    make_client,
    make_receiver,
    needs_vendor,
    spec,
)


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
