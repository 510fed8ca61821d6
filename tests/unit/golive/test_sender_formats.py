"""golive's deliveries to a mapped sender (a standard_webhooks connection with its own mapping
and signature scheme), read back by the connection's own adapter built from that mapping: every
event kind verifies and parses to the envelope, kind, recipient, time and metadata golive meant;
forgeries are refused; a kind the mapping does not name is not spoken (its row not applicable)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from inkbridge.config_senders import SenderMapping, SignatureScheme
from inkbridge.errors import SignatureInvalid
from inkbridge.golive.sender_formats import SenderFormat, place
from inkbridge.golive.vendor_bodies import NotSpoken
from inkbridge.golive.vendor_formats import Signed, VendorFormat
from inkbridge.providers.base import WebhookAdapter
from inkbridge.providers.kind import WebhookSetup
from inkbridge.providers.registry import KINDS
from tests.unit.golive.wire import KINDS_SENT, OCCURRED, golive_event, inbound_request

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PLAIN = "acme-plain-hmac-secret"
ACME = {
    "events": {
        "envelope.sent": "sent",
        "envelope.viewed": "viewed",
        "signer.signed": "signed",
        "envelope.completed": "completed",
        "envelope.declined": "document_declined",
    },
    "type": "/meta/kind",
    "envelope_id": "doc.id",
    "occurred_at": "timestamp",
    "recipient_id": "doc.signers.0.id",
    "recipient_email": "/doc/signers/0/email",
    "metadata": "doc.tags",
}
PLAIN_SCHEME = {"scheme": "hmac_sha256", "header": "X-Plain-Signature", "prefix": "sha256="}


def _setup(mapping: dict[str, Any], scheme: dict[str, Any], secret: str) -> WebhookSetup:
    return WebhookSetup(
        "standard_webhooks",
        [SecretStr(secret)],
        300,
        SenderMapping.model_validate(mapping),
        SignatureScheme.model_validate(scheme),
    )


def _sides(scheme: dict[str, Any], secret: str) -> tuple[VendorFormat, WebhookAdapter]:
    setup = _setup(ACME, scheme, secret)
    assert setup.mapping is not None
    # golive reads the mapping as the deployment serves it: the models' JSON dumps.
    sender = SenderFormat.read(setup.mapping.model_dump(), setup.signature.model_dump())
    return sender.vendor_format(), KINDS["standard_webhooks"].adapter(setup)


def _sign(wire: VendorFormat, kind: str, secret: str) -> Signed:
    return wire.sign(golive_event(kind), secret, "msg_golive_1", int(datetime.now(UTC).timestamp()))


@pytest.mark.parametrize(("scheme", "secret"), [({}, SECRET), (PLAIN_SCHEME, PLAIN)])
@pytest.mark.parametrize("kind", KINDS_SENT)
def test_each_event_is_sent_in_the_senders_vocabulary_and_reads_back_as_meant(
    scheme: dict[str, Any], secret: str, kind: str
) -> None:
    wire, adapter = _sides(scheme, secret)
    request = inbound_request(_sign(wire, kind, secret), "acme")
    adapter.verify(request)
    assert adapter.dedup_key(request)
    [event] = adapter.parse(request)
    assert (str(event.type), event.provider_envelope_id) == (kind, "golive-abc-signed-1")
    assert event.vendor_event in ACME["events"]
    assert event.occurred_at == OCCURRED
    assert (event.recipient_id, event.recipient_email) == (
        "golive-signer",
        "golive-abc@example.invalid",
    )
    assert event.metadata == {"inkbridge_lead_id": "lead_golive", "golive_run": "abc"}


@pytest.mark.parametrize(("scheme", "secret"), [({}, SECRET), (PLAIN_SCHEME, PLAIN)])
def test_forged_deliveries_to_a_mapped_sender_are_refused(
    scheme: dict[str, Any], secret: str
) -> None:
    wire, adapter = _sides(scheme, secret)
    signed = _sign(wire, "document_viewed", secret)
    assert wire.tamper_body is not None
    for forged in (wire.tamper_body(signed), wire.tamper_signature(signed)):
        with pytest.raises(SignatureInvalid):
            adapter.verify(inbound_request(forged, "acme"))


def test_a_kind_the_mapping_does_not_name_is_not_spoken() -> None:
    narrow = {**ACME, "events": {"envelope.sent": "sent"}}
    sender = SenderFormat.read(narrow, {})
    with pytest.raises(NotSpoken, match="document_viewed"):
        sender.vendor_format().sign(golive_event("document_viewed"), SECRET, "msg_1", 0)


def test_a_path_through_an_array_makes_the_array() -> None:
    document: dict[str, Any] = {}
    place(document, ("a", "1", "b"), "x")
    place(document, ("a", "0"), "y")
    assert document == {"a": ["y", {"b": "x"}]}
