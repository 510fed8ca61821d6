"""Acrobat Sign adapter: client-id checks, the echo acknowledgement, lifecycle mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from inkbridge.domain.events import EventType
from inkbridge.errors import MalformedPayload, SignatureInvalid
from inkbridge.providers.acrobat_sign.adapter import AcrobatSignAdapter
from inkbridge.providers.base import InboundRequest
from tests.unit.providers.support import assert_parsed, dumps, fixture, inbound, secrets

CLIENT_ID = "UB7E5BXCXY"
NEXT_CLIENT_ID = "CBJCHBCAABAAnextclientid"
AGREEMENT = "CBJCHBCAABAAagreement000000000000001"
NOTIFICATION = "8f3c2a10-0000-4000-8000-00000000n001"
PARTICIPANT = "CBJCHBCAABAAparticipant0000000000001"


def notification(event: str, **changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = fixture("acrobat_sign", "agreement_action_completed.json")
    document["event"] = event
    document.update(changes)
    return document


def delivered(document: dict[str, Any], client_id: str | None = CLIENT_ID) -> InboundRequest:
    headers = {"X-ADOBESIGN-CLIENTID": client_id} if client_id is not None else {}
    return inbound(dumps(document), headers)


def registration(client_id: str | None) -> InboundRequest:
    headers = {"X-ADOBESIGN-CLIENTID": client_id} if client_id is not None else {}
    return InboundRequest(
        connection="test",
        method="GET",
        headers={k.lower(): v for k, v in headers.items()},
        query={},
        body=b"",
        received_at=datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
    )


def parse(document: dict[str, Any]) -> list[Any]:
    return AcrobatSignAdapter(secrets(CLIENT_ID)).parse(delivered(document))


# Client id checks


def test_a_notification_from_the_configured_client_verifies() -> None:
    AcrobatSignAdapter(secrets(CLIENT_ID)).verify(delivered(notification("AGREEMENT_CREATED")))


@pytest.mark.parametrize("client_id", [None, "", "SOMEONEELSE", CLIENT_ID + "X", CLIENT_ID[:-1]])
def test_a_missing_or_unknown_client_id_is_refused(client_id: str | None) -> None:
    with pytest.raises(SignatureInvalid):
        AcrobatSignAdapter(secrets(CLIENT_ID)).verify(
            delivered(notification("AGREEMENT_CREATED"), client_id)
        )


def test_any_configured_client_id_verifies_during_rotation() -> None:
    adapter = AcrobatSignAdapter(secrets(CLIENT_ID, NEXT_CLIENT_ID))
    adapter.verify(delivered(notification("AGREEMENT_CREATED"), NEXT_CLIENT_ID))
    adapter.verify(delivered(notification("AGREEMENT_CREATED"), CLIENT_ID))


# Acknowledgement and registration


def test_the_acknowledgement_echoes_the_client_id_as_header_and_body() -> None:
    ack = AcrobatSignAdapter(secrets(CLIENT_ID, NEXT_CLIENT_ID)).acknowledge(
        delivered(notification("AGREEMENT_CREATED"), NEXT_CLIENT_ID)
    )
    assert ack.status == 200
    assert ack.headers == {"X-AdobeSign-ClientId": NEXT_CLIENT_ID}
    assert json.loads(ack.body) == {"xAdobeSignClientId": NEXT_CLIENT_ID}
    assert ack.media_type == "application/json"


def test_an_unknown_client_id_is_never_echoed() -> None:
    with pytest.raises(SignatureInvalid):
        AcrobatSignAdapter(secrets(CLIENT_ID)).acknowledge(
            delivered(notification("AGREEMENT_CREATED"), "ATTACKER")
        )


def test_the_registration_get_is_answered_with_the_echo() -> None:
    ack = AcrobatSignAdapter(secrets(CLIENT_ID)).verify_registration(registration(CLIENT_ID))
    assert ack.status == 200
    assert ack.headers == {"X-AdobeSign-ClientId": CLIENT_ID}
    assert json.loads(ack.body) == {"xAdobeSignClientId": CLIENT_ID}


@pytest.mark.parametrize("client_id", [None, "ATTACKER"])
def test_a_registration_from_an_unknown_client_is_refused(client_id: str | None) -> None:
    with pytest.raises(SignatureInvalid):
        AcrobatSignAdapter(secrets(CLIENT_ID)).verify_registration(registration(client_id))


# Deduplication


def test_the_dedup_key_is_the_notification_id_and_stable_across_retries() -> None:
    adapter = AcrobatSignAdapter(secrets(CLIENT_ID))
    document = notification("AGREEMENT_ACTION_COMPLETED")
    first = adapter.dedup_key(delivered(document))
    # A retry is the same notification; Adobe may reorder keys, the id stays.
    retry = adapter.dedup_key(delivered(dict(reversed(list(document.items())))))
    assert first == retry == NOTIFICATION


# Parsing


def test_a_full_lifecycle_maps_onto_normalized_events() -> None:
    steps = [
        ("AGREEMENT_ACTION_REQUESTED", EventType.DOCUMENT_SENT),
        ("AGREEMENT_EMAIL_VIEWED", EventType.DOCUMENT_VIEWED),
        ("AGREEMENT_ACTION_COMPLETED", EventType.RECIPIENT_SIGNED),
        ("AGREEMENT_WORKFLOW_COMPLETED", EventType.DOCUMENT_COMPLETED),
    ]
    for vendor_event, expected in steps:
        (event,) = parse(notification(vendor_event))
        assert_parsed(event, expected, "acrobat_sign", AGREEMENT, vendor_event)


def test_a_participant_event_names_the_participant() -> None:
    (event,) = parse(notification("AGREEMENT_ACTION_COMPLETED"))
    assert event.recipient_id == PARTICIPANT
    assert event.recipient_email == "ada@example.com"
    assert event.occurred_at == datetime(2026, 3, 2, 10, 15, 40, tzinfo=UTC)


def test_the_external_id_comes_back_as_the_inkbridge_envelope_id() -> None:
    (event,) = parse(notification("AGREEMENT_ACTION_COMPLETED"))
    assert event.metadata == {"inkbridge_envelope_id": "env_01HQ7Z0000000000000000000A"}


@pytest.mark.parametrize(
    "vendor_event", ["AGREEMENT_CREATED", "AGREEMENT_MODIFIED", "WIDGET_CREATED", "NEW_THING"]
)
def test_unknown_and_untracked_events_parse_to_nothing(vendor_event: str) -> None:
    assert parse(notification(vendor_event)) == []


def test_a_tracked_event_without_an_agreement_id_is_a_malformed_payload() -> None:
    with pytest.raises(MalformedPayload):
        parse(notification("AGREEMENT_WORKFLOW_COMPLETED", agreement={"name": "x"}))
