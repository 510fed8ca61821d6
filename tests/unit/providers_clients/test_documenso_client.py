"""DocumensoClient against the Documenso emulator in process: template slots, distribution and
signing tokens, with each webhook (its ``createdAt`` new on every retry) checked by the real
DocumensoAdapter."""

from __future__ import annotations

import json

import pytest

from inkbridge.domain.events import EventType
from inkbridge.errors import PermanentError
from inkbridge.providers.base import SigningRequest
from inkbridge.providers.documenso.client import DocumensoClient
from tests.support.provider_worlds import ADA, BOTH_SIGNED, GRACE, EmulatorWorld, signed_by_both
from tests.unit.providers_clients.client_vendors import DOCUMENSO, create_and_deliver

World = EmulatorWorld[DocumensoClient]


world = DOCUMENSO.world_fixture()


async def test_create_fills_the_template_slots_and_distributes(world: World) -> None:
    created, envelope = await create_and_deliver(world, DOCUMENSO.spec(ADA, GRACE))

    assert envelope.external_id == "env_1"
    assert envelope.status == "sent"
    assert envelope.extra["distribution"] == "NONE"
    slots = world.emulator.templates["envelope_template1"]
    assert [int(s.id) for s in envelope.signers] != slots[:2]  # documents get their own ids
    # DOCUMENT_CREATED is stored and ignored by the adapter; DOCUMENT_SENT is the first event.
    assert [e.type for e in world.receiver.events] == [EventType.DOCUMENT_SENT]
    assert world.receiver.events[0].provider_envelope_id == created.provider_envelope_id
    assert world.receiver.events[0].metadata == {"inkbridge_envelope_id": "env_1"}


async def test_a_template_with_too_few_slots_is_permanent(world: World) -> None:
    world.emulator.template_recipients = 1
    with pytest.raises(PermanentError):
        await world.client.create_envelope(DOCUMENSO.spec(ADA, GRACE))


async def test_signing_url_uses_the_recipients_token(world: World) -> None:
    created = await world.client.create_envelope(DOCUMENSO.spec())
    url = await world.client.signing_url(SigningRequest(created.provider_envelope_id, ADA))
    token = world.emulator.book.get(created.provider_envelope_id).signers[0].token
    assert url == f"http://documenso/sign/{token}"
    with pytest.raises(PermanentError):
        await world.client.signing_url(SigningRequest(created.provider_envelope_id, GRACE))


async def test_a_full_signing_reaches_the_receiver_and_the_status_api(world: World) -> None:
    envelope_id = await signed_by_both(world, DOCUMENSO.spec(ADA, GRACE))

    assert [e.type for e in world.receiver.events] == BOTH_SIGNED
    assert [e.recipient_email for e in world.receiver.events[2:4]] == [ADA.email, GRACE.email]
    history = await world.client.fetch_status(envelope_id)
    assert [e.type for e in history] == [
        EventType.DOCUMENT_SENT,
        EventType.RECIPIENT_SIGNED,
        EventType.RECIPIENT_SIGNED,
        EventType.DOCUMENT_COMPLETED,
    ]
    assert history[1].recipient_email == ADA.email


async def test_created_at_changes_on_retry_but_the_dedup_key_does_not(world: World) -> None:
    world.receiver.fail = {"DOCUMENT_SENT": 2}
    await world.client.create_envelope(DOCUMENSO.spec())
    assert await world.emulator.drain(10)

    attempts = zip(world.receiver.keys, world.receiver.bodies, strict=True)
    sent = [
        (key, json.loads(body)["createdAt"]) for key, body in attempts if '"DOCUMENT_SENT"' in key
    ]
    assert len(sent) == 3
    assert len({key for key, _ in sent}) == 1
    assert len({created_at for _, created_at in sent}) == 3
