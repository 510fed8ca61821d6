"""PandaDocClient against the PandaDoc emulator in process: the draft wait before sending,
metadata and merge fields, and the batched notifications the real PandaDocAdapter verifies with
the shared key in the query string."""

from __future__ import annotations

import json

import pytest

from inkbridge.domain.events import EventType
from inkbridge.errors import PermanentError, RetryableError
from inkbridge.providers.base import SigningRequest
from inkbridge.providers.pandadoc.client import PandaDocClient
from tests.support.provider_worlds import ADA, BOTH_SIGNED, GRACE, EmulatorWorld, signed_by_both
from tests.unit.providers_clients.client_vendors import (
    PANDADOC,
    create_and_deliver,
    no_wait,
)
from tests.unit.providers_clients.client_vendors import (
    PANDADOC_API_KEY as API_KEY,
)
from tests.unit.providers_clients.client_vendors import (
    PANDADOC_BASE as BASE,
)

World = EmulatorWorld[PandaDocClient]


world = PANDADOC.world_fixture()


async def test_create_waits_for_the_draft_then_sends_with_inkbridge_metadata(world: World) -> None:
    created, document = await create_and_deliver(world, PANDADOC.spec())

    assert created.status == "document.sent"
    assert document.metadata == {
        "inkbridge_envelope_id": "env_1",
        "inkbridge_lead_id": "lead_1",
        "inkbridge_correlation_id": "cor_1",
    }
    assert document.merge_fields == {"Client.Company": "Analytical Engines"}
    assert [e.type for e in world.receiver.events] == [EventType.DOCUMENT_SENT]
    assert world.receiver.events[0].metadata["inkbridge_lead_id"] == "lead_1"


async def test_a_document_still_processing_is_retryable_and_resumed(world: World) -> None:
    world.emulator.draft_after_reads = 5
    impatient = PandaDocClient(
        BASE, api_key=API_KEY, client=world.api, sleep=no_wait, draft_poll_attempts=2
    )
    with pytest.raises(RetryableError):
        await impatient.create_envelope(PANDADOC.spec())
    created = await world.client.create_envelope(PANDADOC.spec())
    assert created.status == "document.sent"
    assert len(world.emulator.book.envelopes) == 1


async def test_signing_url_is_an_embedded_session_link(world: World) -> None:
    created = await world.client.create_envelope(PANDADOC.spec())
    url = await world.client.signing_url(SigningRequest(created.provider_envelope_id, ADA))
    session_id = url.removeprefix("https://app.pandadoc.com/s/")
    assert world.emulator.sessions[session_id] == (created.provider_envelope_id, ADA.email)
    with pytest.raises(PermanentError):
        await world.client.signing_url(SigningRequest(created.provider_envelope_id, GRACE))


async def test_a_last_signature_batches_recipient_and_document_completion(world: World) -> None:
    document_id = await signed_by_both(world, PANDADOC.spec(ADA, GRACE))

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
    created = await world.client.create_envelope(PANDADOC.spec())
    await world.act(created.provider_envelope_id, action)

    (event,) = await world.client.fetch_status(created.provider_envelope_id)
    assert event.type is terminal
    assert event.vendor_event == status
    assert json.loads(world.receiver.bodies[-1])[0]["data"]["status"] == status
