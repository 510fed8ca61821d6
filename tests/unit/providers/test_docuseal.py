"""DocuSeal adapter: timestamped HMAC with the raw whsec_ key, tolerance, lifecycle mapping."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from inkbridge.domain.events import EventType
from inkbridge.errors import MalformedPayload, SignatureInvalid
from inkbridge.providers.base import InboundRequest
from inkbridge.providers.docuseal.adapter import DocuSealAdapter
from tests.unit.providers.support import NOW, assert_parsed, dumps, fixture, inbound, secrets

# The docuseal vector of vendor/vectors.json.
SECRET = "whsec_dGVzdA=="
VECTOR_TIMESTAMP = 1767225600
VECTOR_BODY = b'{"event_type":"form.completed","timestamp":"2026-01-01T00:00:00Z","data":{"id":1}}'
HEADER = "X-Docuseal-Signature"
VECTOR_SIGNATURE = "1767225600.930ab103b144aa7f44ad9bad3a241b309a0094d6eb4bbfdb51080f9595fc8e6b"

VECTOR_TIME = datetime.fromtimestamp(VECTOR_TIMESTAMP, tz=UTC)
OTHER_SECRET = "whsec_b3RoZXI="
SUBMISSION = "120"


def sign(body: bytes, stamp: int, secret: str = SECRET) -> str:
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"{stamp}.{digest}"


def vector_request(signature: str = VECTOR_SIGNATURE, at: datetime = VECTOR_TIME) -> InboundRequest:
    return inbound(VECTOR_BODY, {HEADER: signature}, received_at=at)


def form_event(event_type: str) -> dict[str, Any]:
    document: dict[str, Any] = fixture("docuseal", "form_completed.json")
    document["event_type"] = event_type
    return document


def submission_event(event_type: str) -> dict[str, Any]:
    submitter = fixture("docuseal", "form_completed.json")["data"]
    return {
        "event_type": event_type,
        "timestamp": "2026-03-02T10:30:00.000Z",
        "data": {
            "id": 120,
            "source": "api",
            "status": "completed",
            "created_at": "2026-03-02T10:01:03.000Z",
            "submitters": [
                {
                    key: submitter[key]
                    for key in ("id", "email", "name", "status", "external_id", "metadata")
                }
            ],
        },
    }


def parse(document: dict[str, Any]) -> list[Any]:
    body = dumps(document)
    stamp = int(NOW.timestamp())
    return DocuSealAdapter(secrets(SECRET)).parse(inbound(body, {HEADER: sign(body, stamp)}))


# Signatures


def test_the_published_vector_verifies_with_the_key_used_as_is() -> None:
    DocuSealAdapter(secrets(SECRET)).verify(vector_request())


def test_a_tampered_body_is_refused() -> None:
    tampered = VECTOR_BODY.replace(b'"id":1', b'"id":2')
    request = inbound(tampered, {HEADER: VECTOR_SIGNATURE}, received_at=VECTOR_TIME)
    with pytest.raises(SignatureInvalid):
        DocuSealAdapter(secrets(SECRET)).verify(request)


def test_a_tampered_signature_is_refused() -> None:
    with pytest.raises(SignatureInvalid):
        DocuSealAdapter(secrets(SECRET)).verify(vector_request(VECTOR_SIGNATURE[:-1] + "0"))


def test_a_signature_moved_to_another_timestamp_is_refused() -> None:
    digest = VECTOR_SIGNATURE.split(".", 1)[1]
    moved = f"{VECTOR_TIMESTAMP + 1}.{digest}"
    with pytest.raises(SignatureInvalid):
        DocuSealAdapter(secrets(SECRET)).verify(vector_request(moved))


def test_the_base64_decoded_key_is_not_the_key() -> None:
    # Unlike Standard Webhooks, DocuSeal keys the HMAC with the whole whsec_ string.
    decoded = sign(VECTOR_BODY, VECTOR_TIMESTAMP, secret="test")
    with pytest.raises(SignatureInvalid):
        DocuSealAdapter(secrets(SECRET)).verify(vector_request(decoded))


@pytest.mark.parametrize("header", ["", "1767225600", "abc.def", ".930ab103"])
def test_a_malformed_signature_header_is_refused(header: str) -> None:
    with pytest.raises(SignatureInvalid):
        DocuSealAdapter(secrets(SECRET)).verify(vector_request(header))


def test_any_configured_secret_verifies_during_rotation() -> None:
    DocuSealAdapter(secrets(OTHER_SECRET, SECRET)).verify(vector_request())


def test_an_unconfigured_secret_is_refused() -> None:
    with pytest.raises(SignatureInvalid):
        DocuSealAdapter(secrets(OTHER_SECRET)).verify(vector_request())


@pytest.mark.parametrize("offset", [timedelta(seconds=-300), timedelta(seconds=300)])
def test_a_timestamp_within_five_minutes_is_accepted(offset: timedelta) -> None:
    DocuSealAdapter(secrets(SECRET)).verify(vector_request(at=VECTOR_TIME - offset))


def test_a_timestamp_older_than_the_tolerance_is_refused() -> None:
    with pytest.raises(SignatureInvalid, match="too old"):
        DocuSealAdapter(secrets(SECRET)).verify(
            vector_request(at=VECTOR_TIME + timedelta(seconds=301))
        )


def test_a_timestamp_from_the_future_is_refused() -> None:
    with pytest.raises(SignatureInvalid, match="future"):
        DocuSealAdapter(secrets(SECRET)).verify(
            vector_request(at=VECTOR_TIME - timedelta(seconds=301))
        )


def test_the_tolerance_is_configurable() -> None:
    adapter = DocuSealAdapter(secrets(SECRET), tolerance_seconds=60)
    with pytest.raises(SignatureInvalid):
        adapter.verify(vector_request(at=VECTOR_TIME + timedelta(seconds=61)))


# Deduplication


def test_the_dedup_key_is_the_composite_of_notes() -> None:
    key = DocuSealAdapter(secrets(SECRET)).dedup_key(vector_request())
    assert json.loads(key) == ["form.completed", "1", "2026-01-01T00:00:00Z"]


def test_the_dedup_key_is_stable_across_retries_signed_at_other_times() -> None:
    adapter = DocuSealAdapter(secrets(SECRET))
    body = dumps(form_event("form.completed"))
    first = inbound(body, {HEADER: sign(body, int(NOW.timestamp()))})
    later = NOW + timedelta(minutes=8)
    retry = inbound(body, {HEADER: sign(body, int(later.timestamp()))}, received_at=later)
    adapter.verify(first)
    adapter.verify(retry)
    assert adapter.dedup_key(first) == adapter.dedup_key(retry)


# Acknowledgement


def test_the_acknowledgement_is_a_plain_200() -> None:
    assert DocuSealAdapter(secrets(SECRET)).acknowledge(vector_request()).status == 200


# Parsing


def test_a_full_lifecycle_maps_onto_normalized_events() -> None:
    steps = [
        (submission_event("submission.created"), EventType.DOCUMENT_SENT, None),
        (form_event("form.viewed"), EventType.DOCUMENT_VIEWED, "301"),
        (form_event("form.completed"), EventType.RECIPIENT_SIGNED, "301"),
        (submission_event("submission.completed"), EventType.DOCUMENT_COMPLETED, None),
    ]
    for document, expected, recipient in steps:
        (event,) = parse(document)
        assert_parsed(event, expected, "docuseal", SUBMISSION, document["event_type"])
        assert event.recipient_id == recipient


def test_a_form_event_names_the_submitter_and_uses_the_event_timestamp() -> None:
    (event,) = parse(form_event("form.completed"))
    assert event.recipient_email == "ada@example.com"
    assert event.occurred_at == datetime(2026, 3, 2, 10, 15, 40, 812000, tzinfo=UTC)


def test_metadata_and_external_id_come_back_as_inkbridge_ids() -> None:
    expected = {
        "inkbridge_envelope_id": "env_01HQ7Z0000000000000000000A",
        "inkbridge_lead_id": "lead_01HQ7Z0000000000000000000B",
        "inkbridge_correlation_id": "cor_01HQ7Z0000000000000000000C",
    }
    (form,) = parse(form_event("form.completed"))
    (submission,) = parse(submission_event("submission.completed"))
    assert form.metadata == expected
    assert submission.metadata == expected


def test_the_submission_id_is_read_from_the_nested_submission_too() -> None:
    document = form_event("form.viewed")
    del document["data"]["submission_id"]
    (event,) = parse(document)
    assert event.provider_envelope_id == SUBMISSION


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (form_event("form.declined"), EventType.DOCUMENT_DECLINED),
        (submission_event("submission.archived"), EventType.DOCUMENT_VOIDED),
        (submission_event("submission.expired"), EventType.DOCUMENT_EXPIRED),
    ],
)
def test_declined_voided_and_expired_paths(document: dict[str, Any], expected: EventType) -> None:
    (event,) = parse(document)
    assert event.type is expected


@pytest.mark.parametrize("event_type", ["form.started", "template.created", "submission.new"])
def test_unknown_and_untracked_events_parse_to_nothing(event_type: str) -> None:
    assert parse(form_event(event_type)) == []


def test_a_tracked_form_event_without_a_submission_is_a_malformed_payload() -> None:
    with pytest.raises(MalformedPayload):
        parse({"event_type": "form.completed", "timestamp": "2026-03-02T10:00:00Z", "data": {}})
