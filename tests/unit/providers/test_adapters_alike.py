"""What every provider adapter does alike: a body it cannot read is a malformed payload, to
parse and for a dedup key (never a crash, never a silent nothing), the headers that carry its
webhook secret or signature are never stored with the delivery, each vendor's other paths
(declined, voided, expired, a bounce, a reminder) map onto the normalized events, and the
metadata parsed is inkbridge's own ids only."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.errors import MalformedPayload
from inkbridge.providers.acrobat_sign.adapter import AcrobatSignAdapter
from inkbridge.providers.base import InboundRequest, WebhookAdapter
from inkbridge.providers.documenso.adapter import DocumensoAdapter
from inkbridge.providers.docuseal.adapter import DocuSealAdapter
from inkbridge.providers.docusign.adapter import DocuSignConnectAdapter
from inkbridge.providers.dropbox_sign.adapter import DropboxSignAdapter
from inkbridge.providers.pandadoc.adapter import PandaDocAdapter
from tests.unit.providers import (
    test_acrobat_sign,
    test_documenso,
    test_docusign,
    test_dropbox_sign,
    test_pandadoc,
)
from tests.unit.providers.support import inbound, secrets

Make = Callable[[], WebhookAdapter]


def acrobat_sign() -> AcrobatSignAdapter:
    return AcrobatSignAdapter(secrets("UB7E5BXCXY"))


def documenso() -> DocumensoAdapter:
    return DocumensoAdapter(secrets("documenso-test-secret"))


def docuseal() -> DocuSealAdapter:
    return DocuSealAdapter(secrets("whsec_dGVzdA=="))


def docusign() -> DocuSignConnectAdapter:
    return DocuSignConnectAdapter(secrets("test-connect-key"))


def dropbox_sign() -> DropboxSignAdapter:
    return DropboxSignAdapter(secrets("0" * 64))


def pandadoc() -> PandaDocAdapter:
    return PandaDocAdapter(secrets("test-shared-key"))


@pytest.mark.parametrize(
    ("make", "request_"),
    [
        (acrobat_sign, inbound(b"{truncated")),
        (documenso, inbound(b'{"event": "DOCUMENT_SENT", ')),
        (docuseal, inbound(b"{")),
        (docusign, inbound(b"{oops")),
        (docusign, inbound(b'"a string"')),
        (docusign, inbound(b'{"event": "envelope-sent"}')),
        (
            dropbox_sign,
            inbound(b"--x\r\n\r\n", content_type="multipart/form-data; boundary=x"),
        ),
        (pandadoc, inbound(b"[{")),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_parse_of_an_unreadable_body_is_a_malformed_payload(
    make: Make, request_: InboundRequest
) -> None:
    with pytest.raises(MalformedPayload):
        make().parse(request_)


@pytest.mark.parametrize(
    ("make", "body"),
    [
        (acrobat_sign, b"nope"),
        (acrobat_sign, b"[]"),
        (acrobat_sign, b'{"event": "AGREEMENT_CREATED"}'),
        (acrobat_sign, b'{"webhookNotificationId": ""}'),
        (documenso, b"nope"),
        (documenso, b"[]"),
        (documenso, b'{"event": "DOCUMENT_SIGNED"}'),
        (documenso, b'{"payload": {"id": 1}}'),
        (docuseal, b"nope"),
        (docuseal, b"[]"),
        (docuseal, b'{"event_type": "form.completed"}'),
        (docuseal, b'{"data": {"id": 1}}'),
        (docusign, b"not json"),
        (docusign, b"[1, 2]"),
        (docusign, b'{"event": "envelope-sent", "data": {}}'),
        (docusign, b'{"data": {"x": 1}}'),
        (pandadoc, b"nope"),
        (pandadoc, b'{"event": "document_state_changed"}'),
        (pandadoc, b"[1, 2]"),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_the_dedup_key_of_an_unreadable_body_is_a_malformed_payload(
    make: Make, body: bytes
) -> None:
    with pytest.raises(MalformedPayload):
        make().dedup_key(inbound(body))


@pytest.mark.parametrize(
    ("make", "headers"),
    [
        (acrobat_sign, {"x-adobesign-clientid"}),
        (documenso, {"x-documenso-secret"}),
        (docuseal, {"x-docuseal-signature"}),
        (docusign, {"x-docusign-signature-1", "x-docusign-signature-100"}),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_the_secret_and_signature_headers_are_never_stored(make: Make, headers: set[str]) -> None:
    assert headers <= make().secret_headers


# The ids inkbridge gave the fixtures' envelopes when it created them.
INKBRIDGE_IDS = {
    "inkbridge_envelope_id": "env_01HQ7Z0000000000000000000A",
    "inkbridge_lead_id": "lead_01HQ7Z0000000000000000000B",
    "inkbridge_correlation_id": "cor_01HQ7Z0000000000000000000C",
}
# A vendor's own name for an event (PandaDoc's: a document status) in the shape of its fixture,
# delivered and parsed by its adapter.
PARSED_AS: dict[str, Callable[[str], list[NormalizedEvent]]] = {
    "acrobat_sign": lambda name: test_acrobat_sign.parse(test_acrobat_sign.notification(name)),
    "docusign": lambda name: [test_docusign.parse_one(test_docusign.message(name))],
    "documenso": lambda name: test_documenso.parse(test_documenso.webhook(name)),
    "dropbox_sign": lambda name: test_dropbox_sign.parse(test_dropbox_sign.callback(name)),
    "pandadoc": lambda name: test_pandadoc.parse(test_pandadoc.state_changed(name)),
}


@pytest.mark.parametrize(
    ("vendor", "vendor_event", "expected"),
    [
        ("acrobat_sign", "AGREEMENT_REJECTED", EventType.DOCUMENT_DECLINED),
        ("acrobat_sign", "AGREEMENT_RECALLED", EventType.DOCUMENT_VOIDED),
        ("acrobat_sign", "AGREEMENT_EXPIRED", EventType.DOCUMENT_EXPIRED),
        ("acrobat_sign", "AGREEMENT_EMAIL_BOUNCED", EventType.DOCUMENT_DELIVERY_FAILED),
        ("acrobat_sign", "AGREEMENT_REMINDER_SENT", EventType.REMINDER_SENT),
        ("documenso", "DOCUMENT_CANCELLED", EventType.DOCUMENT_VOIDED),
        ("documenso", "RECIPIENT_EXPIRED", EventType.DOCUMENT_EXPIRED),
        ("documenso", "DOCUMENT_RECIPIENT_COMPLETED", EventType.RECIPIENT_SIGNED),
        ("documenso", "DOCUMENT_REMINDER_SENT", EventType.REMINDER_SENT),
        ("dropbox_sign", "signature_request_declined", EventType.DOCUMENT_DECLINED),
        ("dropbox_sign", "signature_request_canceled", EventType.DOCUMENT_VOIDED),
        ("dropbox_sign", "signature_request_expired", EventType.DOCUMENT_EXPIRED),
        ("dropbox_sign", "signature_request_email_bounce", EventType.DOCUMENT_DELIVERY_FAILED),
        ("dropbox_sign", "signature_request_remind", EventType.REMINDER_SENT),
        ("pandadoc", "document.declined", EventType.DOCUMENT_DECLINED),
        ("pandadoc", "document.cancelled", EventType.DOCUMENT_VOIDED),
    ],
)
def test_the_other_paths_map_onto_normalized_events(
    vendor: str, vendor_event: str, expected: EventType
) -> None:
    (event,) = PARSED_AS[vendor](vendor_event)
    assert event.type is expected


@pytest.mark.parametrize(
    ("vendor", "vendor_event"),
    [
        ("docusign", "recipient-completed"),  # from the envelope's custom fields
        ("dropbox_sign", "signature_request_signed"),
        ("pandadoc", "document.sent"),
    ],
)
def test_metadata_carries_only_the_inkbridge_ids(vendor: str, vendor_event: str) -> None:
    (event,) = PARSED_AS[vendor](vendor_event)
    assert event.metadata == INKBRIDGE_IDS
