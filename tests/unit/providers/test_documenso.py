"""Documenso adapter: the plain-text secret, dedup that ignores createdAt, lifecycle mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from inkbridge.domain.events import EventType
from inkbridge.errors import MalformedPayload, SignatureInvalid
from inkbridge.providers.base import InboundRequest
from inkbridge.providers.documenso.adapter import DocumensoAdapter
from tests.unit.providers.support import assert_parsed, dumps, fixture, inbound, secrets

SECRET = "documenso-test-secret"
NEXT_SECRET = "documenso-next-secret"
ENVELOPE = "envelope_k3j4h5g6f7d8s9a0"


def webhook(event: str, **payload_changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = fixture("documenso", "document_signed.json")
    document["event"] = event
    document["payload"].update(payload_changes)
    return document


def recipients_of(document: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = document["payload"]["recipients"]
    return found


def delivered(
    document: dict[str, Any], secret: str | None = SECRET, headers: dict[str, str] | None = None
) -> InboundRequest:
    sent = dict(headers or {})
    if secret is not None:
        sent["X-Documenso-Secret"] = secret
    return inbound(dumps(document), sent)


def parse(document: dict[str, Any]) -> list[Any]:
    return DocumensoAdapter(secrets(SECRET)).parse(delivered(document))


# The secret


def test_the_configured_secret_verifies() -> None:
    DocumensoAdapter(secrets(SECRET)).verify(delivered(webhook("DOCUMENT_SIGNED")))


@pytest.mark.parametrize("offered", [None, "", "wrong", SECRET + " ", SECRET.upper()])
def test_a_missing_or_wrong_secret_is_refused(offered: str | None) -> None:
    with pytest.raises(SignatureInvalid):
        DocumensoAdapter(secrets(SECRET)).verify(delivered(webhook("DOCUMENT_SIGNED"), offered))


def test_any_configured_secret_verifies_during_rotation() -> None:
    adapter = DocumensoAdapter(secrets(SECRET, NEXT_SECRET))
    adapter.verify(delivered(webhook("DOCUMENT_SIGNED"), NEXT_SECRET))
    adapter.verify(delivered(webhook("DOCUMENT_SIGNED"), SECRET))


# Deduplication


def test_the_dedup_key_ignores_the_per_attempt_created_at() -> None:
    adapter = DocumensoAdapter(secrets(SECRET))
    first = webhook("DOCUMENT_SIGNED")
    retry = webhook("DOCUMENT_SIGNED")
    retry["createdAt"] = "2026-03-02T10:45:12.001Z"
    assert adapter.dedup_key(delivered(first)) == adapter.dedup_key(delivered(retry))


def test_the_dedup_key_is_the_composite_of_notes() -> None:
    key = DocumensoAdapter(secrets(SECRET)).dedup_key(delivered(webhook("DOCUMENT_SIGNED")))
    assert json.loads(key) == ["DOCUMENT_SIGNED", ENVELOPE, "51", "2026-03-02T10:15:40.569Z"]


def test_the_delivery_id_header_wins_when_present() -> None:
    headers = {"X-Documenso-Delivery-Id": "whd_01HQ7Z0000000000000000000D"}
    key = DocumensoAdapter(secrets(SECRET)).dedup_key(
        delivered(webhook("DOCUMENT_SIGNED"), headers=headers)
    )
    assert key == "whd_01HQ7Z0000000000000000000D"


def test_the_legacy_numeric_id_stands_in_for_a_missing_envelope_id() -> None:
    document = webhook("DOCUMENT_SENT")
    del document["payload"]["envelopeId"]
    key = DocumensoAdapter(secrets(SECRET)).dedup_key(delivered(document))
    assert json.loads(key)[:3] == ["DOCUMENT_SENT", "10", ""]


def test_two_signers_signing_get_different_keys() -> None:
    adapter = DocumensoAdapter(secrets(SECRET))
    first = webhook("DOCUMENT_SIGNED")
    second = webhook("DOCUMENT_SIGNED", updatedAt="2026-03-02T10:20:00.000Z")
    grace = recipients_of(second)[1]
    grace.update(signingStatus="SIGNED", signedAt="2026-03-02T10:19:59.000Z")
    assert adapter.dedup_key(delivered(first)) != adapter.dedup_key(delivered(second))
    assert json.loads(adapter.dedup_key(delivered(second)))[2] == "52"


# Acknowledgement


def test_the_acknowledgement_is_a_plain_200() -> None:
    ack = DocumensoAdapter(secrets(SECRET)).acknowledge(delivered(webhook("DOCUMENT_SIGNED")))
    assert ack.status == 200


# Parsing


def test_a_full_lifecycle_maps_onto_normalized_events() -> None:
    steps = [
        ("DOCUMENT_SENT", EventType.DOCUMENT_SENT),
        ("DOCUMENT_OPENED", EventType.DOCUMENT_VIEWED),
        ("DOCUMENT_SIGNED", EventType.RECIPIENT_SIGNED),
        ("DOCUMENT_COMPLETED", EventType.DOCUMENT_COMPLETED),
    ]
    for vendor_event, expected in steps:
        (event,) = parse(webhook(vendor_event, completedAt="2026-03-02T10:30:00.000Z"))
        assert_parsed(event, expected, "documenso", ENVELOPE, vendor_event)


def test_a_signature_names_the_signer_and_uses_their_signing_time() -> None:
    (event,) = parse(webhook("DOCUMENT_SIGNED"))
    assert event.recipient_id == "51"
    assert event.recipient_email == "ada@example.com"
    assert event.occurred_at == datetime(2026, 3, 2, 10, 15, 40, 501000, tzinfo=UTC)


def test_the_latest_signer_is_the_one_a_signature_event_is_about() -> None:
    document = webhook("DOCUMENT_SIGNED")
    recipients_of(document)[1].update(signingStatus="SIGNED", signedAt="2026-03-02T10:19:59Z")
    (event,) = parse(document)
    assert event.recipient_id == "52"


def test_an_open_by_one_of_several_unopened_recipients_names_the_one_who_opened() -> None:
    (event,) = parse(webhook("DOCUMENT_OPENED"))
    assert event.recipient_id == "51"  # the only recipient whose readStatus is OPENED


def test_an_ambiguous_open_names_no_recipient() -> None:
    document = webhook("DOCUMENT_OPENED")
    recipients_of(document)[1]["readStatus"] = "OPENED"
    (event,) = parse(document)
    assert event.recipient_id is None


def test_the_legacy_recipient_list_is_read_too() -> None:
    document = webhook("DOCUMENT_SIGNED")
    document["payload"]["Recipient"] = document["payload"].pop("recipients")
    (event,) = parse(document)
    assert event.recipient_id == "51"


def test_completion_uses_the_completed_time() -> None:
    (event,) = parse(webhook("DOCUMENT_COMPLETED", completedAt="2026-03-02T10:30:00.000Z"))
    assert event.occurred_at == datetime(2026, 3, 2, 10, 30, tzinfo=UTC)
    assert event.recipient_id is None


def test_the_external_id_comes_back_as_the_inkbridge_envelope_id() -> None:
    (event,) = parse(webhook("DOCUMENT_SENT"))
    assert event.metadata == {"inkbridge_envelope_id": "env_01HQ7Z0000000000000000000A"}
    (without,) = parse(webhook("DOCUMENT_SENT", externalId=None))
    assert without.metadata == {}


def test_a_rejection_is_declined_and_names_who_rejected() -> None:
    document = webhook("DOCUMENT_REJECTED")
    recipients_of(document)[1].update(
        signingStatus="REJECTED", signedAt="2026-03-02T10:20:00Z", rejectionReason="No"
    )
    (event,) = parse(document)
    assert event.type is EventType.DOCUMENT_DECLINED
    assert event.recipient_id == "52"


@pytest.mark.parametrize("vendor_event", ["DOCUMENT_CREATED", "TEMPLATE_USED", "SOMETHING_NEW"])
def test_unknown_and_untracked_events_parse_to_nothing(vendor_event: str) -> None:
    assert parse(webhook(vendor_event)) == []


def test_a_tracked_event_without_a_document_id_is_a_malformed_payload() -> None:
    with pytest.raises(MalformedPayload):
        parse({"event": "DOCUMENT_SENT", "payload": {"status": "PENDING"}})
