"""The Dropbox Sign emulator's own checks, inkbridge's requests and the emulator's answers
checked against the published schema, and its callbacks accepted by DropboxSignAdapter (with
the exact-ack rule)."""

from __future__ import annotations

import httpx
import pytest

from inkbridge.domain.events import EventType
from inkbridge.errors import PermanentError
from inkbridge.providers.dropbox_sign.client import DropboxSignTemplate
from inkbridge_emulators.dropbox_sign import DropboxSignEmulator, create_dropbox_sign_emulator
from inkbridge_emulators.vendor_schemas import openapi_request_body, openapi_schema
from tests.support.provider_worlds import AdapterReceiver

from .support import (
    ADA,
    API_KEY,
    CLIENT_ID,
    GRACE,
    HAVE_VENDOR,
    HOST,
    IDS,
    OPENAPI,
    Rig,
    make_client,
    make_receiver,
    needs_vendor,
    spec,
)


async def test_a_wrong_api_key_is_refused_for_good(rig: Rig) -> None:
    client = make_client(rig.http, api_key="not-the-key")

    with pytest.raises(PermanentError) as refused:
        await client.create_envelope(spec())

    assert "401" in str(refused.value) and "unauthorized" in str(refused.value)
    assert "not-the-key" not in repr(client)


@needs_vendor
async def test_the_emulator_refuses_a_body_off_the_published_schema(rig: Rig) -> None:
    body = {
        "client_id": CLIENT_ID,
        "template_ids": ["t"],
        "signers": [{"name": "Ada", "email_address": ADA.email}],  # no role
        "test_mode": "1",
        "titel": "typo",
    }
    answer = await rig.http.post(
        "/v3/signature_request/create_embedded_with_template", json=body, auth=(API_KEY, "")
    )

    message = answer.json()["error"]["error_msg"]
    assert answer.status_code == 400
    assert "titel" in message and "role" in message and "test_mode" in message


@needs_vendor
@pytest.mark.parametrize("client_id", [CLIENT_ID, None])
@pytest.mark.parametrize(
    "template",
    [DropboxSignTemplate("dbx-tpl"), DropboxSignTemplate(file_urls=("https://x.test/a.pdf",))],
)
def test_request_bodies_validate_against_the_operation_schemas(
    client_id: str | None, template: DropboxSignTemplate
) -> None:
    client = make_client(
        httpx.AsyncClient(), client_id=client_id, template_map={"tpl_nda": template}
    )
    path, body = client.request_for(spec())

    assert openapi_request_body(OPENAPI, path).problems(body) == []


@needs_vendor
async def test_emulated_answers_and_callbacks_match_the_published_schemas(rig: Rig) -> None:
    created = await rig.client.create_envelope(spec(ADA, GRACE))
    request_id = created.provider_envelope_id
    signature_id = rig.emulator.requests[request_id].signatures[0].signature_id
    sign_url = await rig.http.get(f"/v3/embedded/sign_url/{signature_id}", auth=(API_KEY, ""))
    for action in ["bounce", "view", "sign", "sign"]:
        await rig.http.post(f"/_emulator/signature_requests/{request_id}/{action}")
    status = await rig.http.get(f"/v3/signature_request/{request_id}", auth=(API_KEY, ""))

    assert openapi_schema(OPENAPI, "EmbeddedSignUrlResponse").problems(sign_url.json()) == []
    assert openapi_schema(OPENAPI, "SignatureRequestGetResponse").problems(status.json()) == []
    callback = openapi_schema(OPENAPI, "EventCallbackRequest")
    assert {m["event"]["event_type"] for m in rig.emulator.messages} == {
        "signature_request_sent",
        "signature_request_email_bounce",
        "signature_request_viewed",
        "signature_request_signed",
        "signature_request_all_signed",
        "signature_request_downloadable",
    }
    for message in rig.emulator.messages:
        assert callback.problems(message) == []


async def callback_run(receiver: AdapterReceiver, actions: list[str]) -> DropboxSignEmulator:
    hooks = httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver.app()))
    app = create_dropbox_sign_emulator(
        callback_url="http://receiver.test/callbacks",
        api_key=API_KEY,
        schema_path=OPENAPI if HAVE_VENDOR else None,
        client=hooks,
        client_id=CLIENT_ID,
        retry_base_seconds=0.01,
    )
    emulator: DropboxSignEmulator = app.state.emulator
    await emulator.start()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=HOST) as h:
            created = await make_client(h).create_envelope(spec())
            for action in actions:
                path = f"/_emulator/signature_requests/{created.provider_envelope_id}/{action}"
                assert (await h.post(path)).status_code == 200
        assert await emulator.drain()
    finally:
        await emulator.stop()
        await hooks.aclose()
    return emulator


async def test_callbacks_verify_parse_and_carry_inkbridge_ids() -> None:
    receiver = make_receiver()
    emulator = await callback_run(receiver, ["view", "sign"])

    assert [e.vendor_event for e in receiver.events] == [
        "signature_request_sent",
        "signature_request_viewed",
        "signature_request_signed",
        "signature_request_all_signed",
    ]  # signature_request_downloadable is stored but maps to nothing
    assert emulator.emitter.counters.delivered == 5
    assert all(e.metadata == IDS for e in receiver.events)


async def test_a_200_without_the_exact_ack_text_is_retried_with_the_same_dedup_key() -> None:
    receiver = make_receiver(wrong_acks=1)
    emulator = await callback_run(receiver, [])

    assert len(receiver.keys) == 2 and receiver.keys[0] == receiver.keys[1]
    assert emulator.emitter.counters.failed_attempts == 1
    assert [e.type for e in receiver.events] == [EventType.DOCUMENT_SENT]
