"""PandaDocClient against the PandaDoc emulator in process: the draft wait before sending,
metadata and merge fields, and the batched notifications the real PandaDocAdapter verifies with
the shared key in the query string."""

from __future__ import annotations

import json
from functools import partial

import pytest
from pydantic import SecretStr

from inkbridge.domain.events import EventType
from inkbridge.errors import PermanentError, RetryableError
from inkbridge.providers.base import EnvelopeSpec, Signer, SigningRequest
from inkbridge.providers.pandadoc.adapter import PandaDocAdapter
from inkbridge.providers.pandadoc.client import PandaDocClient
from inkbridge_emulators.pandadoc import create_pandadoc_emulator
from tests.support.provider_worlds import (
    ADA,
    BOTH_SIGNED,
    GRACE,
    AdapterReceiver,
    EmulatorWorld,
    signed_by_both,
    world_fixture,
)

API_KEY = "emulator-api-key"
SHARED_KEY = "emulator-shared-key"
BASE = "http://pandadoc/public/v1"


def spec(*signers: Signer, envelope_id: str = "env_1") -> EnvelopeSpec:
    return EnvelopeSpec(
        envelope_id=envelope_id,
        template_id="tplNDA",
        title="Mutual NDA",
        signers=signers or (ADA,),
        metadata={"inkbridge_lead_id": "lead_1", "inkbridge_correlation_id": "cor_1"},
        merge_fields={"Client.Company": "Analytical Engines"},
    )


async def no_wait(_: float) -> None:
    return None


World = EmulatorWorld[PandaDocClient]


world = world_fixture(
    lambda: AdapterReceiver(PandaDocAdapter([SecretStr(SHARED_KEY)]), "pandadoc"),
    partial(create_pandadoc_emulator, api_key=API_KEY, shared_key=SHARED_KEY, draft_after_reads=3),
    lambda api: PandaDocClient(BASE, api_key=API_KEY, client=api, sleep=no_wait),
    "http://pandadoc",
)


async def test_create_waits_for_the_draft_then_sends_with_inkbridge_metadata(world: World) -> None:
    created = await world.client.create_envelope(spec())
    assert await world.emulator.drain(10)

    document = world.emulator.book.get(created.provider_envelope_id)
    assert created.status == "document.sent"
    assert document.metadata == {
        "inkbridge_envelope_id": "env_1",
        "inkbridge_lead_id": "lead_1",
        "inkbridge_correlation_id": "cor_1",
    }
    assert document.merge_fields == {"Client.Company": "Analytical Engines"}
    assert [e.type for e in world.receiver.events] == [EventType.DOCUMENT_SENT]
    assert world.receiver.events[0].metadata["inkbridge_lead_id"] == "lead_1"


async def test_create_is_idempotent_on_the_envelope_id(world: World) -> None:
    first = await world.client.create_envelope(spec())
    again = await world.client.create_envelope(spec())
    assert again.provider_envelope_id == first.provider_envelope_id
    assert len(world.emulator.book.envelopes) == 1


async def test_a_document_still_processing_is_retryable_and_resumed(world: World) -> None:
    world.emulator.draft_after_reads = 5
    impatient = PandaDocClient(
        BASE, api_key=API_KEY, client=world.api, sleep=no_wait, draft_poll_attempts=2
    )
    with pytest.raises(RetryableError):
        await impatient.create_envelope(spec())
    created = await world.client.create_envelope(spec())
    assert created.status == "document.sent"
    assert len(world.emulator.book.envelopes) == 1


async def test_signing_url_is_an_embedded_session_link(world: World) -> None:
    created = await world.client.create_envelope(spec())
    url = await world.client.signing_url(SigningRequest(created.provider_envelope_id, ADA))
    session_id = url.removeprefix("https://app.pandadoc.com/s/")
    assert world.emulator.sessions[session_id] == (created.provider_envelope_id, ADA.email)
    with pytest.raises(PermanentError):
        await world.client.signing_url(SigningRequest(created.provider_envelope_id, GRACE))


async def test_a_last_signature_batches_recipient_and_document_completion(world: World) -> None:
    document_id = await signed_by_both(world, spec(ADA, GRACE))

    assert [e.type for e in world.receiver.events] == BOTH_SIGNED
    assert [n["event"] for n in json.loads(world.receiver.bodies[-1])] == [
        "recipient_completed",
        "document_state_changed",
    ]
    assert world.receiver.events[2].recipient_email == ADA.email
    history = await world.client.fetch_status(document_id)
    assert [e.type for e in history] == [EventType.DOCUMENT_COMPLETED]


@pytest.mark.parametrize(
    ("action", "terminal", "status"),
    [
        ("decline", EventType.DOCUMENT_DECLINED, "document.declined"),
        ("void", EventType.DOCUMENT_VOIDED, "document.cancelled"),
        ("expire", EventType.DOCUMENT_EXPIRED, "document.voided"),
    ],
)
async def test_fetch_status_maps_each_terminal_state(
    world: World, action: str, terminal: EventType, status: str
) -> None:
    created = await world.client.create_envelope(spec())
    await world.act(created.provider_envelope_id, action)

    (event,) = await world.client.fetch_status(created.provider_envelope_id)
    assert event.type is terminal
    assert event.vendor_event == status
    assert json.loads(world.receiver.bodies[-1])[0]["data"]["status"] == status


async def test_a_wrong_api_key_is_permanent(world: World) -> None:
    client = PandaDocClient(BASE, api_key="not-it", client=world.api, sleep=no_wait)
    with pytest.raises(PermanentError):
        await client.create_envelope(spec())
