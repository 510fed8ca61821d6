"""golive's deliveries in each vendor's format, read by that vendor's own adapter: every event
kind golive sends verifies and parses back to the same envelope, kind, recipient and time; the
acknowledgement golive expects is the one the adapter gives; each forgery golive sends is
refused; and every provider inkbridge knows has a format."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from inkbridge.errors import SignatureInvalid
from inkbridge.golive.vendor_formats import FORMATS, Signed, VendorFormat
from inkbridge.providers.base import WebhookAdapter
from inkbridge.providers.kind import WebhookSetup
from inkbridge.providers.registry import KINDS, PROVIDERS
from tests.unit.golive.wire import KINDS_SENT, OCCURRED, golive_event, inbound_request

SECRETS = {
    "sandbox": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "standard_webhooks": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "docusign": "connect-key-golive",
    "dropbox_sign": "dropbox-api-key-golive",
    "acrobat_sign": "acrobat-client-golive",
    "pandadoc": "pandadoc-shared-key-golive",
    "documenso": "documenso-secret-golive",
    "docuseal": "whsec_ZG9jdXNlYWwtZ29saXZl",
}
# The events whose vendor form names no recipient: envelope-level events, and every PandaDoc
# state change.
ENVELOPE_LEVEL = {
    *((provider, kind) for provider in ("docuseal", "documenso") for kind in KINDS_SENT[::3]),
    *(("pandadoc", kind) for kind in KINDS_SENT if kind != "recipient_signed"),
}


def _adapter(provider: str, secret: str | None = None) -> WebhookAdapter:
    setup = WebhookSetup(provider, [SecretStr(secret or SECRETS[provider])], 300)
    return KINDS[provider].adapter(setup)


def _signed(wire: VendorFormat, kind: str = "document_viewed", **options: Any) -> Signed:
    stamp = options.get("stamp", int(datetime.now(UTC).timestamp()))
    return wire.sign(golive_event(kind), SECRETS[wire.provider], "msg_golive_1", stamp)


def test_every_provider_inkbridge_knows_has_a_vendor_format() -> None:
    assert set(FORMATS) == set(PROVIDERS)


@pytest.mark.parametrize("provider", sorted(FORMATS))
@pytest.mark.parametrize("kind", KINDS_SENT)
def test_each_event_golive_sends_verifies_and_reads_back_as_sent(provider: str, kind: str) -> None:
    adapter = _adapter(provider)
    request = inbound_request(_signed(FORMATS[provider], kind))
    adapter.verify(request)
    assert adapter.dedup_key(request)
    [event] = adapter.parse(request)
    assert str(event.type) == kind
    assert event.provider_envelope_id == "golive-abc-signed-1"
    assert event.occurred_at == OCCURRED
    if (provider, kind) not in ENVELOPE_LEVEL:
        assert event.recipient_id == "golive-signer"
        assert event.recipient_email == "golive-abc@example.invalid"


@pytest.mark.parametrize("provider", sorted(FORMATS))
def test_the_acknowledgement_golive_expects_is_the_adapters(provider: str) -> None:
    wire = FORMATS[provider]
    request = inbound_request(_signed(wire))
    answer = _adapter(provider).acknowledge(request)
    if provider in ("sandbox", "standard_webhooks"):
        # The webhook endpoint answers inkbridge's own format with its JSON body.
        assert wire.acknowledgement(SECRETS[provider]) == (200, b'{"ok":true}')
    else:
        assert (answer.status, answer.body) == wire.acknowledgement(SECRETS[provider])


def test_dropbox_signs_its_acknowledgement_body_exactly() -> None:
    assert FORMATS["dropbox_sign"].acknowledgement("k") == (200, b"Hello API Event Received")


@pytest.mark.parametrize("provider", sorted(FORMATS))
def test_a_tampered_signature_is_refused(provider: str) -> None:
    wire = FORMATS[provider]
    with pytest.raises(SignatureInvalid):
        _adapter(provider).verify(inbound_request(wire.tamper_signature(_signed(wire))))


@pytest.mark.parametrize("provider", sorted(p for p, w in FORMATS.items() if w.tamper_body))
def test_a_tampered_body_is_refused_where_the_vendor_signs_it(provider: str) -> None:
    wire = FORMATS[provider]
    assert wire.tamper_body is not None
    forged = wire.tamper_body(_signed(wire))
    assert forged.body != _signed(wire).body
    with pytest.raises(SignatureInvalid):
        _adapter(provider).verify(inbound_request(forged))


@pytest.mark.parametrize("provider", sorted(p for p, w in FORMATS.items() if w.signs_time))
@pytest.mark.parametrize("skew", [-3600, 3600])
def test_a_stale_or_future_time_is_refused_where_the_vendor_signs_one(
    provider: str, skew: int
) -> None:
    stamp = int(datetime.now(UTC).timestamp()) + skew
    with pytest.raises(SignatureInvalid):
        _adapter(provider).verify(inbound_request(_signed(FORMATS[provider], stamp=stamp)))


@pytest.mark.parametrize("provider", sorted(FORMATS))
def test_a_delivery_signed_with_another_secret_is_refused(provider: str) -> None:
    other = {"sandbox": "whsec_b3RoZXItc2VjcmV0LTAxMjM0NTY3", "docuseal": "whsec_b3RoZXI="}
    adapter = _adapter(provider, other.get(provider, "another-secret"))
    with pytest.raises(SignatureInvalid):
        adapter.verify(inbound_request(_signed(FORMATS[provider])))
