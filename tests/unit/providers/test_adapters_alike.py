"""What every provider adapter does alike: a body it cannot read is a malformed payload (never
a crash, never a silent nothing), and the headers that carry its webhook secret or signature
are never stored with the delivery."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from inkbridge.errors import MalformedPayload
from inkbridge.providers.acrobat_sign.adapter import AcrobatSignAdapter
from inkbridge.providers.base import InboundRequest, WebhookAdapter
from inkbridge.providers.documenso.adapter import DocumensoAdapter
from inkbridge.providers.docuseal.adapter import DocuSealAdapter
from inkbridge.providers.docusign.adapter import DocuSignConnectAdapter
from inkbridge.providers.dropbox_sign.adapter import DropboxSignAdapter
from inkbridge.providers.pandadoc.adapter import PandaDocAdapter
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
