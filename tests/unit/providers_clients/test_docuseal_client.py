"""DocuSealClient against the DocuSeal emulator in process: submissions keyed by inkbridge's
envelope id, embedded signing and the submission API, with the re-signed retries of each webhook
checked by the real DocuSealAdapter."""

from __future__ import annotations

import pytest

from inkbridge.domain.events import EventType
from inkbridge.errors import PermanentError
from inkbridge.providers.base import Signer, SigningRequest
from inkbridge.providers.docuseal.client import DocuSealClient
from tests.support.provider_worlds import ADA, BOTH_SIGNED, GRACE, EmulatorWorld, signed_by_both
from tests.unit.providers_clients.client_vendors import DOCUSEAL, create_and_deliver

World = EmulatorWorld[DocuSealClient]


world = DOCUSEAL.world_fixture()


async def test_create_carries_the_ids_in_external_id_and_metadata(world: World) -> None:
    _, submission = await create_and_deliver(world, DOCUSEAL.spec(ADA, GRACE))

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


async def test_signing_url_is_the_submitters_embed_src(world: World) -> None:
    created = await world.client.create_envelope(DOCUSEAL.spec(ADA, GRACE))
    url = await world.client.signing_url(SigningRequest(created.provider_envelope_id, GRACE))
    grace = world.emulator.book.get(created.provider_envelope_id).signers[1]
    assert url == f"https://docuseal-emulator.test/s/{grace.token}"
    with pytest.raises(PermanentError):
        await world.client.signing_url(
            SigningRequest(created.provider_envelope_id, Signer("x@y.test", "X"))
        )


async def test_a_full_signing_reaches_the_receiver_and_the_status_api(world: World) -> None:
    submission_id = await signed_by_both(world, DOCUSEAL.spec(ADA, GRACE))

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


async def test_retries_are_resigned_but_keep_the_timestamp_and_dedup_key(world: World) -> None:
    world.receiver.fail = {"submission.created": 2}
    await world.client.create_envelope(DOCUSEAL.spec())
    assert await world.emulator.drain(10)

    keys = set(world.receiver.keys)
    assert len(world.receiver.keys) == 3
    assert len(keys) == 1
    assert len(world.receiver.events) == 1
