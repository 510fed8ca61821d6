"""PandaDoc adapter: query-string signatures, batched notifications, dedup, lifecycle mapping."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from inkbridge.domain.events import EventType
from inkbridge.errors import MalformedPayload, SignatureInvalid
from inkbridge.providers.base import InboundRequest
from inkbridge.providers.pandadoc.adapter import PandaDocAdapter
from tests.unit.providers.support import dumps, fixture, inbound, secrets

# The pandadoc vector of vendor/vectors.json.
SHARED_KEY = "test-shared-key"
VECTOR_BODY = (
    b'[{"event":"document_state_changed","data":{"id":"doc1","status":"document.completed"}}]'
)
QUERY_PARAM = "signature"
VECTOR_SIGNATURE = "75ebeddf569f0ac18e7e64d5eae785a5e084d919c484f605ca8810af03e81751"

OTHER_KEY = "another-shared-key"
DOCUMENT = "msFYActMfJHqNTKH8YSvF1"
ADA = "TM2nqhKYgPmJA9hUPDKHr1"


def state_changed(
    status: str, date_modified: str = "2026-03-02T10:01:04.157758Z"
) -> dict[str, Any]:
    item: dict[str, Any] = fixture("pandadoc", "document_state_changed.json")[0]
    item["data"]["status"] = status
    item["data"]["date_modified"] = date_modified
    return item


def recipient_completed(email: str = "ada@example.com") -> dict[str, Any]:
    item = state_changed("document.viewed", "2026-03-02T10:15:40.100000Z")
    item["event"] = "recipient_completed"
    item["data"]["action_by"] = {"email": email, "first_name": "Ada", "last_name": "Example"}
    item["data"]["action_date"] = "2026-03-02T10:15:40.000000Z"
    return item


def delivered(items: list[dict[str, Any]], headers: dict[str, str] | None = None) -> InboundRequest:
    return inbound(dumps(items), headers)


def parse(*items: dict[str, Any]) -> list[Any]:
    return PandaDocAdapter(secrets(SHARED_KEY)).parse(delivered(list(items)))


# Signatures


def test_the_published_vector_verifies() -> None:
    adapter = PandaDocAdapter(secrets(SHARED_KEY))
    adapter.verify(inbound(VECTOR_BODY, query={QUERY_PARAM: VECTOR_SIGNATURE}))


def test_a_tampered_body_is_refused() -> None:
    tampered = VECTOR_BODY.replace(b"completed", b"cancelled")
    with pytest.raises(SignatureInvalid):
        PandaDocAdapter(secrets(SHARED_KEY)).verify(
            inbound(tampered, query={QUERY_PARAM: VECTOR_SIGNATURE})
        )


def test_a_tampered_signature_is_refused() -> None:
    tampered = VECTOR_SIGNATURE[:-1] + "0"
    with pytest.raises(SignatureInvalid):
        PandaDocAdapter(secrets(SHARED_KEY)).verify(
            inbound(VECTOR_BODY, query={QUERY_PARAM: tampered})
        )


def test_a_request_without_a_signature_is_refused() -> None:
    with pytest.raises(SignatureInvalid):
        PandaDocAdapter(secrets(SHARED_KEY)).verify(inbound(VECTOR_BODY))


def test_any_configured_key_verifies_during_rotation() -> None:
    adapter = PandaDocAdapter(secrets(OTHER_KEY, SHARED_KEY))
    adapter.verify(inbound(VECTOR_BODY, query={QUERY_PARAM: VECTOR_SIGNATURE}))


def test_an_unconfigured_key_is_refused() -> None:
    with pytest.raises(SignatureInvalid):
        PandaDocAdapter(secrets(OTHER_KEY)).verify(
            inbound(VECTOR_BODY, query={QUERY_PARAM: VECTOR_SIGNATURE})
        )


def test_a_fixture_body_verifies_under_its_own_signature() -> None:
    body = dumps([state_changed("document.sent")])
    signature = hmac.new(SHARED_KEY.encode(), body, hashlib.sha256).hexdigest()
    PandaDocAdapter(secrets(SHARED_KEY)).verify(inbound(body, query={QUERY_PARAM: signature}))


# Deduplication


def test_the_event_id_header_is_the_dedup_key_when_present() -> None:
    adapter = PandaDocAdapter(secrets(SHARED_KEY))
    headers = {"X-PandaDoc-Webhook-Event-Id": "3b1f0c9e-0000-4000-8000-00000000w001"}
    key = adapter.dedup_key(delivered([state_changed("document.sent")], headers))
    assert key == "3b1f0c9e-0000-4000-8000-00000000w001"


def test_the_composite_key_covers_every_notification_of_the_batch() -> None:
    adapter = PandaDocAdapter(secrets(SHARED_KEY))
    items = [state_changed("document.sent"), recipient_completed()]
    assert json.loads(adapter.dedup_key(delivered(items))) == [
        [DOCUMENT, "document_state_changed", "document.sent", "2026-03-02T10:01:04.157758Z"],
        [DOCUMENT, "recipient_completed", "document.viewed", "2026-03-02T10:15:40.100000Z"],
    ]


def test_the_composite_key_is_stable_across_retries() -> None:
    adapter = PandaDocAdapter(secrets(SHARED_KEY))
    items = [state_changed("document.sent"), recipient_completed()]
    again = json.loads(json.dumps(items))  # a retry re-serialises the same notifications
    assert adapter.dedup_key(delivered(items)) == adapter.dedup_key(delivered(again))


def test_batches_that_differ_in_one_notification_get_different_keys() -> None:
    adapter = PandaDocAdapter(secrets(SHARED_KEY))
    one = adapter.dedup_key(delivered([state_changed("document.sent")]))
    two = adapter.dedup_key(delivered([state_changed("document.sent"), recipient_completed()]))
    assert one != two


def test_a_huge_batch_gets_a_hashed_key_that_fits() -> None:
    items = [state_changed("document.viewed", f"2026-03-02T10:{m:02d}:00Z") for m in range(40)]
    key = PandaDocAdapter(secrets(SHARED_KEY)).dedup_key(delivered(items))
    assert key.startswith("sha256:")
    assert len(key) <= 500


# Acknowledgement


def test_the_acknowledgement_is_a_plain_200() -> None:
    ack = PandaDocAdapter(secrets(SHARED_KEY)).acknowledge(inbound(VECTOR_BODY))
    assert ack.status == 200


# Parsing


def test_a_full_lifecycle_maps_onto_normalized_events() -> None:
    events = parse(
        state_changed("document.sent"),
        state_changed("document.viewed"),
        recipient_completed(),
        state_changed("document.completed"),
    )
    assert [e.type for e in events] == [
        EventType.DOCUMENT_SENT,
        EventType.DOCUMENT_VIEWED,
        EventType.RECIPIENT_SIGNED,
        EventType.DOCUMENT_COMPLETED,
    ]
    assert {e.provider_envelope_id for e in events} == {DOCUMENT}
    assert {e.provider for e in events} == {"pandadoc"}


def test_one_event_per_recognized_notification_of_a_batch() -> None:
    events = parse(
        state_changed("document.draft"),
        {"event": "document_updated", "data": {"id": DOCUMENT}},
        state_changed("document.sent"),
        {"event": "brand_new_event", "data": {}},
    )
    assert [e.type for e in events] == [EventType.DOCUMENT_SENT]


def test_a_recipient_completion_names_the_recipient() -> None:
    (event,) = parse(recipient_completed())
    assert event.recipient_id == ADA
    assert event.recipient_email == "ada@example.com"
    assert event.occurred_at == datetime(2026, 3, 2, 10, 15, 40, tzinfo=UTC)


def test_the_event_time_of_a_state_change_is_date_modified() -> None:
    (event,) = parse(state_changed("document.sent"))
    assert event.occurred_at == datetime(2026, 3, 2, 10, 1, 4, 157758, tzinfo=UTC)
    assert event.vendor_event == "document_state_changed:document.sent"


def test_the_vector_body_parses_with_the_arrival_time_standing_in() -> None:
    adapter = PandaDocAdapter(secrets(SHARED_KEY))
    request = inbound(VECTOR_BODY)
    (event,) = adapter.parse(request)
    assert event.type is EventType.DOCUMENT_COMPLETED
    assert event.provider_envelope_id == "doc1"
    assert event.occurred_at == request.received_at


@pytest.mark.parametrize(
    "status", ["document.draft", "document.waiting_approval", "document.paid", "document.new"]
)
def test_untracked_states_parse_to_nothing(status: str) -> None:
    assert parse(state_changed(status)) == []


def test_unknown_events_parse_to_nothing() -> None:
    assert parse({"event": "quote_updated", "data": {"id": DOCUMENT}}) == []


def test_a_tracked_notification_without_a_document_id_is_malformed() -> None:
    item = state_changed("document.sent")
    del item["data"]["id"]
    with pytest.raises(MalformedPayload):
        parse(item)
