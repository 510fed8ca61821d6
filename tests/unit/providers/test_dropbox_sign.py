"""Dropbox Sign adapter: event_hash verification, form transports, ack body, lifecycle mapping."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from inkbridge.domain.events import EventType
from inkbridge.errors import MalformedPayload, SignatureInvalid
from inkbridge.providers.base import InboundRequest
from inkbridge.providers.dropbox_sign.adapter import DropboxSignAdapter
from tests.unit.providers.support import assert_parsed, fixture, inbound, secrets, vendor_dir

# The dropbox_sign vector of vendor/vectors.json (from the vendor SDK's own test suite).
API_KEY = "324e3b0840f065eb51f3fd63231d0d33daa35d4ed10d27718839e81737065782"
EVENT_TIME = "1348177752"
HASHES = {
    "unknown_error": "c574f5d3090c2936360b4e36cf6835cf3e2206b84fdc6347e6b28ca721ae1371",
    "account_confirmed": "6dc5b7aad93cf54915e0089d6c31d61b3833f66f51459171c69f8fa211308848",
    "signature_request_sent": "08d45a6b7677492b78be030cef18cfeaece8fe67e163cc8e526ee638ad483756",
    "template_created": "4a9b22fa68d5addb8b6313eea9d42ecb393903a4240b71503ef78e9dac6c100d",
}
ACK_BODY = b"Hello API Event Received"

OTHER_KEY = "0" * 64
REQUEST_ID = "fa5c8a0b0f492d768749333ad6fcc214c111e967"
ADA_SIGNATURE = "5c8e2a1b0f9d4e7a8b6c3d2e1f0a9b8c"
GRACE_SIGNATURE = "9d7f3b2c1a0e4f8b9c7d6e5f4a3b2c1d"

EXAMPLES = vendor_dir() / "dropbox-sign" / "examples"


def multipart(
    document: dict[str, Any], boundary: str = "inkbridgeTestBoundary7MA4YWxk"
) -> InboundRequest:
    """A callback as Dropbox Sign posts it: the event JSON in the form field ``json``."""
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="json"\r\n'
        "\r\n"
        f"{json.dumps(document)}\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    return inbound(body, content_type=f"multipart/form-data; boundary={boundary}")


def urlencoded(document: dict[str, Any]) -> InboundRequest:
    body = urlencode({"json": json.dumps(document)}).encode()
    return inbound(body, content_type="application/x-www-form-urlencoded")


def vector_event(event_type: str) -> dict[str, Any]:
    return {
        "event": {
            "event_time": EVENT_TIME,
            "event_type": event_type,
            "event_hash": HASHES[event_type],
        }
    }


def hashed(event_type: str, event_time: str, api_key: str = API_KEY) -> str:
    return hmac.new(
        api_key.encode(), (event_time + event_type).encode(), hashlib.sha256
    ).hexdigest()


def callback(
    event_type: str, signature_id: str | None = ADA_SIGNATURE, event_time: str = "1772446542"
) -> dict[str, Any]:
    """The fixture callback as another event, hashed with the test API key."""
    document: dict[str, Any] = fixture("dropbox_sign", "signature_request_signed.json")
    event = document["event"]
    event["event_type"] = event_type
    event["event_time"] = event_time
    event["event_hash"] = hashed(event_type, event_time)
    event["event_metadata"]["related_signature_id"] = signature_id
    return document


def parse(document: dict[str, Any]) -> list[Any]:
    return DropboxSignAdapter(secrets(API_KEY)).parse(multipart(document))


# Signatures


@pytest.mark.parametrize("event_type", sorted(HASHES))
def test_the_vendor_vectors_verify(event_type: str) -> None:
    DropboxSignAdapter(secrets(API_KEY)).verify(multipart(vector_event(event_type)))


def test_the_fixture_hash_verifies() -> None:
    document = fixture("dropbox_sign", "signature_request_signed.json")
    DropboxSignAdapter(secrets(API_KEY)).verify(multipart(document))


def test_a_urlencoded_callback_verifies_too() -> None:
    DropboxSignAdapter(secrets(API_KEY)).verify(urlencoded(vector_event("signature_request_sent")))


def test_a_hash_for_another_event_type_is_refused() -> None:
    document = vector_event("signature_request_sent")
    document["event"]["event_type"] = "signature_request_all_signed"
    with pytest.raises(SignatureInvalid):
        DropboxSignAdapter(secrets(API_KEY)).verify(multipart(document))


def test_a_tampered_hash_is_refused() -> None:
    document = vector_event("signature_request_sent")
    document["event"]["event_hash"] = "f" + HASHES["signature_request_sent"][1:]
    with pytest.raises(SignatureInvalid):
        DropboxSignAdapter(secrets(API_KEY)).verify(multipart(document))


def test_a_hash_under_an_unconfigured_key_is_refused() -> None:
    with pytest.raises(SignatureInvalid):
        DropboxSignAdapter(secrets(OTHER_KEY)).verify(multipart(vector_event("template_created")))


def test_any_configured_api_key_verifies_during_rotation() -> None:
    adapter = DropboxSignAdapter(secrets(OTHER_KEY, API_KEY))
    adapter.verify(multipart(vector_event("account_confirmed")))


@pytest.mark.parametrize(
    "request_",
    [
        inbound(b"not a form", content_type="multipart/form-data; boundary=x"),
        inbound(b"other=1", content_type="application/x-www-form-urlencoded"),
        inbound(b"json=%7Bnot-json", content_type="application/x-www-form-urlencoded"),
    ],
)
def test_a_body_without_a_readable_event_is_refused(request_: InboundRequest) -> None:
    with pytest.raises(SignatureInvalid):
        DropboxSignAdapter(secrets(API_KEY)).verify(request_)


def test_the_json_field_is_found_among_other_form_fields() -> None:
    boundary = "b0undary"
    document = vector_event("signature_request_sent")
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="note"\r\n\r\n'
        "ignored\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="json"\r\n'
        "Content-Type: application/json; charset=utf-8\r\n\r\n"
        f"{json.dumps(document)}\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    request = inbound(body, content_type=f"multipart/form-data; boundary={boundary}")
    DropboxSignAdapter(secrets(API_KEY)).verify(request)


def _helper_fixtures() -> list[Path]:
    return sorted(EXAMPLES.glob("EventCallbackHelper_*.json")) if EXAMPLES.is_dir() else []


def test_every_sdk_helper_fixture_verifies_with_the_sdk_api_key() -> None:
    # The SDK's EventCallbackHelper fixtures (account and app callbacks alike) are hashed with
    # the API key of vectors.json, which is how the SDK's own tests check them.
    files = _helper_fixtures()
    if not files:
        pytest.skip(f"the Dropbox Sign SDK examples are absent ({EXAMPLES})")
    adapter = DropboxSignAdapter(secrets(API_KEY))
    checked = 0
    for path in files:
        for name, document in json.loads(path.read_text()).items():
            try:
                adapter.verify(multipart(document))
            except SignatureInvalid as exc:
                pytest.fail(f"{path.name} {name}: {exc}")
            checked += 1
    assert checked >= 12


# Deduplication


def test_the_dedup_key_is_stable_across_retries_even_with_a_new_boundary() -> None:
    adapter = DropboxSignAdapter(secrets(API_KEY))
    document = callback("signature_request_signed")
    first = adapter.dedup_key(multipart(document, boundary="first-attempt"))
    retry = adapter.dedup_key(multipart(document, boundary="second-attempt"))
    assert first == retry


def test_the_dedup_key_is_the_composite_of_notes() -> None:
    key = DropboxSignAdapter(secrets(API_KEY)).dedup_key(
        multipart(callback("signature_request_signed"))
    )
    assert json.loads(key) == [REQUEST_ID, "signature_request_signed", "1772446542", ADA_SIGNATURE]


def test_the_dedup_key_tells_signers_apart() -> None:
    adapter = DropboxSignAdapter(secrets(API_KEY))
    ada = adapter.dedup_key(multipart(callback("signature_request_signed", ADA_SIGNATURE)))
    grace = adapter.dedup_key(multipart(callback("signature_request_signed", GRACE_SIGNATURE)))
    assert ada != grace


def test_an_event_without_a_signature_request_still_has_a_key() -> None:
    key = DropboxSignAdapter(secrets(API_KEY)).dedup_key(
        multipart(vector_event("account_confirmed"))
    )
    assert json.loads(key) == ["", "account_confirmed", EVENT_TIME, ""]


@pytest.mark.parametrize(
    "document", [{"event": {}}, {"event": {"event_type": "x"}}, {"no_event": True}]
)
def test_a_callback_without_an_event_is_a_malformed_payload(document: dict[str, Any]) -> None:
    with pytest.raises(MalformedPayload):
        DropboxSignAdapter(secrets(API_KEY)).dedup_key(multipart(document))


def test_a_form_without_the_json_field_is_a_malformed_payload() -> None:
    request = inbound(b"other=1", content_type="application/x-www-form-urlencoded")
    with pytest.raises(MalformedPayload):
        DropboxSignAdapter(secrets(API_KEY)).dedup_key(request)


# Acknowledgement


def test_the_acknowledgement_is_exactly_the_vendor_phrase() -> None:
    ack = DropboxSignAdapter(secrets(API_KEY)).acknowledge(multipart(vector_event("unknown_error")))
    assert ack.status == 200
    assert ack.body == ACK_BODY
    assert ack.media_type == "text/plain"


# Parsing


def test_a_full_lifecycle_maps_onto_normalized_events() -> None:
    steps = [
        ("signature_request_sent", None, EventType.DOCUMENT_SENT),
        ("signature_request_viewed", ADA_SIGNATURE, EventType.DOCUMENT_VIEWED),
        ("signature_request_signed", ADA_SIGNATURE, EventType.RECIPIENT_SIGNED),
        ("signature_request_signed", GRACE_SIGNATURE, EventType.RECIPIENT_SIGNED),
        ("signature_request_all_signed", None, EventType.DOCUMENT_COMPLETED),
    ]
    for event_type, signature_id, expected in steps:
        (event,) = parse(callback(event_type, signature_id))
        assert_parsed(event, expected, "dropbox_sign", REQUEST_ID, event_type)
        assert event.recipient_id == signature_id


def test_a_signer_event_names_the_signer_and_their_address() -> None:
    (event,) = parse(callback("signature_request_signed", GRACE_SIGNATURE))
    assert event.recipient_id == GRACE_SIGNATURE
    assert event.recipient_email == "grace@example.com"


def test_the_event_time_is_the_callbacks_event_time() -> None:
    (event,) = parse(callback("signature_request_signed"))
    assert event.occurred_at == datetime(2026, 3, 2, 10, 15, 42, tzinfo=UTC)


def test_a_callback_test_verifies_and_parses_to_nothing() -> None:
    document = {
        "event": {
            "event_time": "1772446542",
            "event_type": "callback_test",
            "event_hash": hashed("callback_test", "1772446542"),
        }
    }
    adapter = DropboxSignAdapter(secrets(API_KEY))
    adapter.verify(multipart(document))
    assert adapter.parse(multipart(document)) == []


@pytest.mark.parametrize(
    "event_type", ["account_confirmed", "template_created", "unknown_error", "sign_url_invalid"]
)
def test_unknown_and_untracked_events_parse_to_nothing(event_type: str) -> None:
    assert parse(callback(event_type)) == []


def test_a_tracked_event_without_a_signature_request_id_is_a_malformed_payload() -> None:
    document = callback("signature_request_signed")
    del document["signature_request"]["signature_request_id"]
    with pytest.raises(MalformedPayload):
        parse(document)
