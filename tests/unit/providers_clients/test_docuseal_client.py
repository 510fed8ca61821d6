"""DocuSealClient against the DocuSeal emulator in process: submissions keyed by inkbridge's
envelope id, embedded signing and the submission API, with the re-signed retries of each webhook
checked by the real DocuSealAdapter."""

from __future__ import annotations

from functools import partial

import pytest
from pydantic import SecretStr

from inkbridge.domain.events import EventType
from inkbridge.errors import PermanentError
from inkbridge.providers.base import EnvelopeSpec, Signer, SigningRequest
from inkbridge.providers.docuseal.adapter import DocuSealAdapter
from inkbridge.providers.docuseal.client import DocuSealClient
from inkbridge_emulators.docuseal import create_docuseal_emulator
from tests.support.provider_worlds import (
    ADA,
    BOTH_SIGNED,
    GRACE,
    AdapterReceiver,
    EmulatorWorld,
    assert_terminal_state_reported,
    each_terminal_action,
    signed_by_both,
    world_fixture,
)

TOKEN = "emulator-api-token"
SECRET = "whsec_emulatorwebhooksecret"


def spec(*signers: Signer) -> EnvelopeSpec:
    return EnvelopeSpec(
        envelope_id="env_1",
        template_id="1000001",
        title="Mutual NDA",
        signers=signers or (ADA,),
        metadata={"inkbridge_lead_id": "lead_1", "inkbridge_correlation_id": "cor_1"},
        merge_fields={"Company": "Analytical Engines"},
    )


World = EmulatorWorld[DocuSealClient]


world = world_fixture(
    lambda: AdapterReceiver(
        DocuSealAdapter([SecretStr(SECRET)]), "docuseal", event_key="event_type", fail_status=500
    ),
    partial(create_docuseal_emulator, api_token=TOKEN, webhook_secret=SECRET),
    partial(DocuSealClient, "http://docuseal", TOKEN),
    "http://docuseal",
)


async def test_create_carries_the_ids_in_external_id_and_metadata(world: World) -> None:
    created = await world.client.create_envelope(spec(ADA, GRACE))
    assert await world.emulator.drain(10)

    submission = world.emulator.book.get(created.provider_envelope_id)
    details = list(submission.extra["submitters"].values())
    assert [d["external_id"] for d in details] == ["env_1", "env_1"]
    assert details[0]["metadata"] == {
        "inkbridge_envelope_id": "env_1",
        "inkbridge_lead_id": "lead_1",
        "inkbridge_correlation_id": "cor_1",
    }
    assert details[0]["values"] == {"Company": "Analytical Engines"}
    assert submission.extra["send_email"] is False
    assert [e.type for e in world.receiver.events] == [EventType.DOCUMENT_SENT]
    assert world.receiver.events[0].metadata["inkbridge_lead_id"] == "lead_1"


async def test_create_is_idempotent_on_the_envelope_id(world: World) -> None:
    first = await world.client.create_envelope(spec())
    again = await world.client.create_envelope(spec())
    assert again == first
    assert len(world.emulator.book.envelopes) == 1


async def test_signing_url_is_the_submitters_embed_src(world: World) -> None:
    created = await world.client.create_envelope(spec(ADA, GRACE))
    url = await world.client.signing_url(SigningRequest(created.provider_envelope_id, GRACE))
    grace = world.emulator.book.get(created.provider_envelope_id).signers[1]
    assert url == f"https://docuseal-emulator.test/s/{grace.token}"
    with pytest.raises(PermanentError):
        await world.client.signing_url(
            SigningRequest(created.provider_envelope_id, Signer("x@y.test", "X"))
        )


async def test_a_full_signing_reaches_the_receiver_and_the_status_api(world: World) -> None:
    submission_id = await signed_by_both(world, spec(ADA, GRACE))

    assert [e.type for e in world.receiver.events] == BOTH_SIGNED
    signed = [e for e in world.receiver.events if e.type is EventType.RECIPIENT_SIGNED]
    history = await world.client.fetch_status(submission_id)
    assert [e.type for e in history] == [
        EventType.DOCUMENT_SENT,
        EventType.DOCUMENT_VIEWED,
        EventType.RECIPIENT_SIGNED,
        EventType.DOCUMENT_VIEWED,  # Grace opened the form as she signed
        EventType.RECIPIENT_SIGNED,
        EventType.DOCUMENT_COMPLETED,
    ]
    # The status API and the webhooks name recipients alike (the submitter id).
    history_signed = [e for e in history if e.type is EventType.RECIPIENT_SIGNED]
    assert [e.recipient_id for e in history_signed] == [e.recipient_id for e in signed]
    assert history[-1].metadata["inkbridge_envelope_id"] == "env_1"


@each_terminal_action
async def test_fetch_status_maps_each_terminal_state(
    world: World, action: str, terminal: EventType
) -> None:
    await assert_terminal_state_reported(world, spec(), action, terminal)


async def test_retries_are_resigned_but_keep_the_timestamp_and_dedup_key(world: World) -> None:
    world.receiver.fail = {"submission.created": 2}
    await world.client.create_envelope(spec())
    assert await world.emulator.drain(10)

    keys = set(world.receiver.keys)
    assert len(world.receiver.keys) == 3
    assert len(keys) == 1
    assert len(world.receiver.events) == 1


async def test_a_wrong_token_is_permanent(world: World) -> None:
    with pytest.raises(PermanentError):
        await DocuSealClient("http://docuseal", "wrong", world.api).create_envelope(spec())
