"""A generic connection configured for a sender's own vocabulary: the mapping is checked when
the configuration is read, a payload is read through its paths, an event it does not map is
ignored with its reason, and the plain HMAC body signature verifies GitHub's published vector."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from inkbridge.config import ConnectionSettings
from inkbridge.config_senders import SenderMapping, SignatureScheme
from inkbridge.config_sources import load_settings
from inkbridge.domain.events import EventType
from inkbridge.domain.json_paths import MISSING, PathSyntaxError, parse_path, value_at
from inkbridge.errors import ConfigError, DeliveryIgnored, SignatureInvalid
from inkbridge.providers.registry import build_adapter
from inkbridge.providers.standard_webhooks.adapter import StandardWebhooksAdapter
from inkbridge.vendor_http.body_hmac import body_signature
from tests.unit.providers.support import inbound

# GitHub's documented vector for X-Hub-Signature-256 (docs: "Validating webhook deliveries").
GITHUB_SECRET = "It's a Secret to Everybody"
GITHUB_PAYLOAD = b"Hello, World!"
GITHUB_SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

ARRIVED = datetime(2025, 3, 4, 10, 16, tzinfo=UTC)
SIGNNOW = SenderMapping(
    events={"user.document.fieldinvite.signed": "signed", "user.document.complete": "completed"},
    type="meta.event",
    envelope_id="/content/document_id",
    occurred_at="meta.timestamp",
    recipient_email="content.signer",
    metadata="content.meta",
)


def signnow_body(event: str, **content: Any) -> bytes:
    body = {"meta": {"event": event, "timestamp": 1741083300}, "content": content}
    return json.dumps(body).encode()


def adapter(mapping: SenderMapping = SIGNNOW) -> StandardWebhooksAdapter:
    return StandardWebhooksAdapter(
        [SecretStr(GITHUB_SECRET)],
        provider="standard_webhooks",
        mapping=mapping,
        signature=SignatureScheme(scheme="hmac_sha256", header="X-Hub-Signature-256"),
    )


def test_a_mapped_event_is_read_through_its_paths() -> None:
    body = signnow_body(
        "user.document.fieldinvite.signed",
        document_id="d41",
        signer="ada@example.com",
        meta={"inkbridge_lead_id": "lead_1"},
    )
    (event,) = adapter().parse(inbound(body, received_at=ARRIVED))
    assert event.type is EventType.RECIPIENT_SIGNED
    assert event.provider_envelope_id == "d41"
    assert event.occurred_at == datetime.fromtimestamp(1741083300, tz=UTC)
    assert event.recipient_email == "ada@example.com"
    assert event.metadata == {"inkbridge_lead_id": "lead_1"}
    assert event.vendor_event == "user.document.fieldinvite.signed"


def test_without_a_time_path_the_arrival_time_stands_in() -> None:
    mapping = SenderMapping(events={"done": "completed"}, envelope_id="id")
    (event,) = adapter(mapping).parse(inbound(b'{"type":"done","id":7}', received_at=ARRIVED))
    assert event.occurred_at == ARRIVED and event.provider_envelope_id == "7"


def test_an_unmapped_event_is_ignored_with_its_name() -> None:
    with pytest.raises(DeliveryIgnored) as caught:
        adapter().parse(inbound(signnow_body("user.document.update", document_id="d41")))
    assert caught.value.kind == "unmapped_event"
    assert str(caught.value) == "unmapped event type 'user.document.update'"


def test_a_mapped_event_without_an_envelope_id_is_ignored_naming_the_path() -> None:
    with pytest.raises(DeliveryIgnored) as caught:
        adapter().parse(inbound(signnow_body("user.document.complete")))
    assert caught.value.kind == "no_envelope_id"
    assert "/content/document_id" in str(caught.value)


def test_an_unknown_native_event_type_is_ignored_with_its_reason() -> None:
    native = StandardWebhooksAdapter([SecretStr("whsec_c2VjcmV0")], provider="standard_webhooks")
    body = b'{"type":"envelope.sent","timestamp":"2025-03-04T10:00:00Z","data":{}}'
    with pytest.raises(DeliveryIgnored, match=r"unmapped event type 'envelope\.sent'"):
        native.parse(inbound(body))


def test_the_body_signature_reproduces_githubs_vector() -> None:
    assert body_signature(GITHUB_SECRET, GITHUB_PAYLOAD, "hex", "sha256=") == GITHUB_SIGNATURE


def test_githubs_vector_verifies_and_a_changed_body_does_not() -> None:
    scheme = SignatureScheme(scheme="hmac_sha256", header="X-Hub-Signature-256", prefix="sha256=")
    verifier = StandardWebhooksAdapter(
        [SecretStr("rotated-out"), SecretStr(GITHUB_SECRET)], mapping=SIGNNOW, signature=scheme
    )
    headers = {"x-hub-signature-256": GITHUB_SIGNATURE}
    verifier.verify(inbound(GITHUB_PAYLOAD, headers))
    with pytest.raises(SignatureInvalid):
        verifier.verify(inbound(b"Hello, World?", headers))
    with pytest.raises(SignatureInvalid, match="missing"):
        verifier.verify(inbound(GITHUB_PAYLOAD, {}))


def test_a_base64_body_signature_verifies() -> None:
    scheme = SignatureScheme(scheme="hmac_sha256", header="X-Sender-Signature", encoding="base64")
    verifier = StandardWebhooksAdapter([SecretStr("s3cret")], mapping=SIGNNOW, signature=scheme)
    value = body_signature("s3cret", b"{}", "base64")
    verifier.verify(inbound(b"{}", {"x-sender-signature": value}))
    assert verifier.secret_headers >= {"x-sender-signature"}


def test_without_a_webhook_id_the_sender_event_id_or_the_body_digest_deduplicates() -> None:
    with_id = SenderMapping(events={"done": "completed"}, event_id="meta.id")
    body = b'{"type":"done","meta":{"id":"evt_1"}}'
    assert adapter(with_id).dedup_key(inbound(body)) == "event:evt_1"
    digest = adapter().dedup_key(inbound(body))
    assert digest.startswith("sha256:") and digest == adapter().dedup_key(inbound(body))


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("content.document_id", "d41"),
        ("/content/document_id", "d41"),
        ("content.signers.1.email", "b@example.com"),
        ("/content/a~1b/c~0d", "escaped"),
        ("content.nothing", MISSING),
        ("content.signers.9", MISSING),
    ],
)
def test_dotted_paths_and_json_pointers_name_the_same_places(path: str, expected: Any) -> None:
    document = {
        "content": {
            "document_id": "d41",
            "signers": [{"email": "a@example.com"}, {"email": "b@example.com"}],
            "a/b": {"c~d": "escaped"},
        }
    }
    assert value_at(document, parse_path(path)) == expected


@pytest.mark.parametrize("path", ["", "a..b", "/a//b", "x" * 201])
def test_a_path_that_names_no_place_is_refused(path: str) -> None:
    with pytest.raises(PathSyntaxError):
        parse_path(path)


def test_an_unknown_target_event_is_an_error_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "inkbridge.toml"
    config.write_text(
        '[connections.acme]\nprovider = "standard_webhooks"\nsecrets = ["env:S"]\n'
        '[connections.acme.mapping]\nevents = { "envelope.sent" = "sent", '
        '"envelope.cancelled" = "cancelled" }\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={"S": "whsec_c2VjcmV0"})
    message = str(caught.value)
    assert "connections.acme.mapping.events" in message
    assert "'envelope.cancelled'" in message and "'cancelled' is not an inkbridge event" in message


def test_a_bad_path_and_a_header_less_hmac_scheme_are_refused() -> None:
    with pytest.raises(ValidationError, match="envelope_id"):
        SenderMapping(events={"x": "sent"}, envelope_id="data..id")
    with pytest.raises(ValidationError, match="needs the header"):
        SignatureScheme(scheme="hmac_sha256")


def test_a_mapping_on_a_vendor_connection_is_refused() -> None:
    conn = ConnectionSettings(
        provider="docusign", secrets=["env:S"], mapping=SenderMapping(events={"x": "sent"})
    )
    with pytest.raises(ConfigError, match="apply to provider 'standard_webhooks' only"):
        build_adapter("ds", conn)
