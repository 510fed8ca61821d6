"""DocuSign Connect adapter: signature headers, dedup across retries, lifecycle mapping."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from inkbridge.domain.events import EventType
from inkbridge.errors import SignatureInvalid
from inkbridge.providers.docusign.adapter import DocuSignConnectAdapter
from tests.unit.providers.support import assert_parsed, dumps, fixture, inbound, secrets, vendor_dir

# The docusign_connect vector of vendor/vectors.json.
VECTOR_KEY = "test-connect-key"
VECTOR_BODY = b'{"event":"envelope-completed","data":{"envelopeId":"abc"}}'
VECTOR_HEADER = "X-DocuSign-Signature-1"
VECTOR_SIGNATURE = "qMfF5qRBA4Wej504rC8pAwBveiDd7p7J3O6uYwbdNpQ="

OTHER_KEY = "another-connect-key"
ENVELOPE = "93be49ab-0000-4000-8000-00000000e001"

SCHEMA_PATH = vendor_dir() / "docusign" / "connect.schema-v2.json"

# Every message shape the tests below send: (event, recipientId, envelopeSummary changes).
# The schema test checks each against DocuSign's published Connect message.
VARIANTS: list[tuple[str, str | None, dict[str, str]]] = [
    ("envelope-sent", None, {}),
    ("recipient-delivered", "1", {}),
    ("envelope-delivered", None, {}),
    ("recipient-completed", "1", {}),
    ("recipient-completed", "2", {}),
    ("envelope-completed", None, {"status": "completed"}),
    ("envelope-declined", None, {"status": "declined"}),
    ("recipient-declined", "2", {"status": "declined"}),
    ("envelope-voided", None, {"status": "voided", "voidedReason": "Wrong terms"}),
    ("envelope-voided", None, {"status": "voided", "voidedReason": "Envelope has expired."}),
    ("recipient-autoresponded", "1", {}),
]


def sign(body: bytes, key: str) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def message(event: str, recipient_id: str | None = "1", **summary: Any) -> dict[str, Any]:
    document: dict[str, Any] = fixture("docusign", "recipient-completed.json")
    document["event"] = event
    if recipient_id is None:
        del document["data"]["recipientId"]
    else:
        document["data"]["recipientId"] = recipient_id
    document["data"]["envelopeSummary"].update(summary)
    return document


def body_of(document: dict[str, Any]) -> bytes:
    return dumps(document)


def parse_one(document: dict[str, Any]) -> Any:
    events = DocuSignConnectAdapter(secrets(VECTOR_KEY)).parse(inbound(body_of(document)))
    assert len(events) == 1
    return events[0]


# Signatures


def test_the_published_vector_verifies() -> None:
    adapter = DocuSignConnectAdapter(secrets(VECTOR_KEY))
    adapter.verify(inbound(VECTOR_BODY, {VECTOR_HEADER: VECTOR_SIGNATURE}))


def test_a_tampered_body_is_refused() -> None:
    adapter = DocuSignConnectAdapter(secrets(VECTOR_KEY))
    tampered = VECTOR_BODY.replace(b"abc", b"abd")
    with pytest.raises(SignatureInvalid):
        adapter.verify(inbound(tampered, {VECTOR_HEADER: VECTOR_SIGNATURE}))


def test_a_tampered_signature_is_refused() -> None:
    adapter = DocuSignConnectAdapter(secrets(VECTOR_KEY))
    tampered = "A" + VECTOR_SIGNATURE[1:]
    with pytest.raises(SignatureInvalid):
        adapter.verify(inbound(VECTOR_BODY, {VECTOR_HEADER: tampered}))


def test_a_request_without_signature_headers_is_refused() -> None:
    with pytest.raises(SignatureInvalid):
        DocuSignConnectAdapter(secrets(VECTOR_KEY)).verify(inbound(VECTOR_BODY))


def test_a_signature_under_an_unconfigured_key_is_refused() -> None:
    adapter = DocuSignConnectAdapter(secrets(OTHER_KEY))
    with pytest.raises(SignatureInvalid):
        adapter.verify(inbound(VECTOR_BODY, {VECTOR_HEADER: VECTOR_SIGNATURE}))


def test_any_configured_key_verifies_during_rotation() -> None:
    adapter = DocuSignConnectAdapter(secrets(OTHER_KEY, VECTOR_KEY))
    adapter.verify(inbound(VECTOR_BODY, {VECTOR_HEADER: VECTOR_SIGNATURE}))


def test_any_one_of_several_signature_headers_verifies() -> None:
    # DocuSign sends one header per active Connect key; only the second is ours here.
    adapter = DocuSignConnectAdapter(secrets(VECTOR_KEY))
    headers = {
        "X-DocuSign-Signature-1": sign(VECTOR_BODY, "a-key-we-do-not-hold"),
        "X-DocuSign-Signature-2": VECTOR_SIGNATURE,
    }
    adapter.verify(inbound(VECTOR_BODY, headers))


# Deduplication


def test_the_dedup_key_is_stable_across_retries() -> None:
    adapter = DocuSignConnectAdapter(secrets(VECTOR_KEY))
    first = message("recipient-completed")
    retry = message("recipient-completed")
    retry["retryCount"] = 3
    assert adapter.dedup_key(inbound(body_of(first))) == adapter.dedup_key(inbound(body_of(retry)))


def test_the_dedup_key_is_the_composite_of_notes() -> None:
    key = DocuSignConnectAdapter(secrets(VECTOR_KEY)).dedup_key(
        inbound(body_of(message("recipient-completed")))
    )
    assert json.loads(key) == [
        ENVELOPE,
        "recipient-completed",
        "1",
        "2026-03-02T10:15:42.1234567Z",
    ]


def test_the_dedup_key_tells_recipients_and_events_apart() -> None:
    adapter = DocuSignConnectAdapter(secrets(VECTOR_KEY))
    keys = {
        adapter.dedup_key(inbound(body_of(message("recipient-completed", "1")))),
        adapter.dedup_key(inbound(body_of(message("recipient-completed", "2")))),
        adapter.dedup_key(inbound(body_of(message("recipient-delivered", "1")))),
        adapter.dedup_key(inbound(body_of(message("envelope-sent", None)))),
    }
    assert len(keys) == 4


def test_an_overlong_dedup_key_is_hashed_to_fit() -> None:
    document = message("recipient-completed")
    document["data"]["envelopeId"] = "e" * 600
    key = DocuSignConnectAdapter(secrets(VECTOR_KEY)).dedup_key(inbound(body_of(document)))
    assert key.startswith("sha256:")
    assert len(key) <= 500


# Acknowledgement


def test_the_acknowledgement_is_a_plain_200() -> None:
    ack = DocuSignConnectAdapter(secrets(VECTOR_KEY)).acknowledge(inbound(VECTOR_BODY))
    assert ack.status == 200
    assert ack.body == b""


# Parsing


def test_a_full_lifecycle_maps_onto_normalized_events() -> None:
    steps = [
        (message("envelope-sent", None), EventType.DOCUMENT_SENT, None),
        (message("recipient-delivered", "1"), EventType.DOCUMENT_VIEWED, "1"),
        (message("recipient-completed", "1"), EventType.RECIPIENT_SIGNED, "1"),
        (message("recipient-completed", "2"), EventType.RECIPIENT_SIGNED, "2"),
        (
            message("envelope-completed", None, status="completed"),
            EventType.DOCUMENT_COMPLETED,
            None,
        ),
    ]
    for document, expected_type, recipient in steps:
        event = parse_one(document)
        assert_parsed(event, expected_type, "docusign", ENVELOPE, document["event"])
        assert event.recipient_id == recipient


def test_a_recipient_event_names_the_recipient_and_their_address() -> None:
    event = parse_one(message("recipient-completed", "2"))
    assert event.recipient_id == "2"
    assert event.recipient_email == "grace@example.com"


def test_the_event_time_is_the_generated_time() -> None:
    event = parse_one(message("recipient-completed"))
    assert event.occurred_at == datetime(2026, 3, 2, 10, 15, 42, 123456, tzinfo=UTC)


def test_envelope_delivered_counts_as_viewed() -> None:
    assert parse_one(message("envelope-delivered", None)).type is EventType.DOCUMENT_VIEWED


@pytest.mark.parametrize(
    ("event", "recipient"), [("envelope-declined", None), ("recipient-declined", "2")]
)
def test_declines_map_to_declined(event: str, recipient: str | None) -> None:
    parsed = parse_one(message(event, recipient, status="declined"))
    assert parsed.type is EventType.DOCUMENT_DECLINED
    assert parsed.recipient_id == recipient


def test_a_void_for_another_reason_is_voided() -> None:
    document = message("envelope-voided", None, status="voided", voidedReason="Wrong terms")
    assert parse_one(document).type is EventType.DOCUMENT_VOIDED


def test_a_void_because_the_envelope_expired_is_expired() -> None:
    document = message(
        "envelope-voided", None, status="voided", voidedReason="Envelope has expired."
    )
    assert parse_one(document).type is EventType.DOCUMENT_EXPIRED


def test_a_bounced_invitation_is_a_delivery_failure() -> None:
    parsed = parse_one(message("recipient-autoresponded", "1"))
    assert parsed.type is EventType.DOCUMENT_DELIVERY_FAILED
    assert parsed.recipient_email == "ada@example.com"


@pytest.mark.parametrize(
    "event", ["envelope-created", "envelope-purge", "recipient-reassign", "envelope-new-thing"]
)
def test_unknown_and_untracked_events_parse_to_nothing(event: str) -> None:
    adapter = DocuSignConnectAdapter(secrets(VECTOR_KEY))
    assert adapter.parse(inbound(body_of(message(event)))) == []


# DocuSign's published Connect message


def _schema_of_sample(sample: Any) -> dict[str, Any]:
    """A strict JSON Schema for the shape of a sample message: same keys, same JSON types."""
    if isinstance(sample, dict):
        return {
            "type": "object",
            "properties": {key: _schema_of_sample(value) for key, value in sample.items()},
            "additionalProperties": False,
        }
    if isinstance(sample, list):
        items: dict[str, Any] = {}
        for item in sample:
            items = _merge(items, _schema_of_sample(item))
        return {"type": "array", "items": items} if items else {"type": "array"}
    if isinstance(sample, bool):
        return {"type": "boolean"}
    if isinstance(sample, int):
        return {"type": "integer"}
    if isinstance(sample, float):
        return {"type": "number"}
    if isinstance(sample, str):
        return {"type": "string"}
    return {}


def _merge(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    if not left:
        return right
    if left.get("type") == right.get("type") == "object":
        properties = dict(left["properties"])
        for key, value in right["properties"].items():
            properties[key] = _merge(properties.get(key, {}), value)
        return {**left, "properties": properties}
    return left


def _connect_schema() -> dict[str, Any]:
    if not SCHEMA_PATH.is_file():
        pytest.skip(f"DocuSign's Connect message file is absent ({SCHEMA_PATH})")
    document: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    if "$schema" in document or "properties" in document:
        return document
    # The published file is a sample message ("sample string 1"...), not a JSON Schema: used as
    # a schema it would accept anything. Derive a strict schema from its shape instead.
    return _schema_of_sample(document)


def test_the_connect_file_is_a_sample_message_not_a_schema() -> None:
    if not SCHEMA_PATH.is_file():
        pytest.skip(f"DocuSign's Connect message file is absent ({SCHEMA_PATH})")
    document = json.loads(SCHEMA_PATH.read_text())
    assert "$schema" not in document and "properties" not in document, (
        "the vendor file became a real JSON Schema: drop the sample-derived schema"
    )


def test_every_body_used_in_these_tests_matches_the_published_message_shape() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(_connect_schema())
    retried = message("recipient-completed")
    retried["retryCount"] = 3
    documents = [message(e, r, **summary) for e, r, summary in VARIANTS]
    documents += [retried, json.loads(VECTOR_BODY), fixture("docusign", "recipient-completed.json")]
    for document in documents:
        errors = list(validator.iter_errors(document))
        assert not errors, f"{document['event']}: {errors[0].message} at {list(errors[0].path)}"


def test_the_sample_derived_schema_rejects_a_misspelled_field() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(_connect_schema())
    document = message("recipient-completed")
    document["data"]["envelopeSummary"]["voidReason"] = "typo of voidedReason"
    assert list(validator.iter_errors(document))
