"""How golive speaks to one connection: the vendor's body, its signature (the sender's side in
``vendor_http.vendor_signatures`` and ``vendor_http.signing``, the same code the emulators sign
with), the exact acknowledgement the vendor expects, and what a forger would tamper with.

Each vendor signs something different, so the refusal cases differ too: a body can only be
tampered with where the signature covers it (not Acrobat Sign's or Documenso's, which sign
nothing, nor Dropbox Sign's body outside ``event_time`` + ``event_type``), and only Standard
Webhooks and DocuSeal sign a time, so only they can refuse a stale or future delivery (the
others rely on deduplication)."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from inkbridge.golive.vendor_bodies import BODIES, GoliveEvent
from inkbridge.vendor_http.signing import signed_headers
from inkbridge.vendor_http.vendor_signatures import (
    docuseal_signature,
    docusign_signature,
    dropbox_sign_event_hash,
    pandadoc_signature,
)

JSON = "application/json"
MULTIPART_BOUNDARY = "inkbridge-golive-boundary"


@dataclass(frozen=True)
class Signed:
    """One delivery ready to post: body, headers and query parameters."""

    body: bytes
    headers: Mapping[str, str]
    query: Mapping[str, str] = field(default_factory=dict)


def _flip_last(text: str) -> str:
    return text[:-1] + ("0" if text[-1] != "0" else "1")


def _flip_base64(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[0] ^= 0x01
    return base64.b64encode(raw).decode()


def _multipart(json_text: bytes) -> tuple[bytes, str]:
    """Dropbox Sign's callback form: the event JSON in the field ``json``."""
    body = (
        f'--{MULTIPART_BOUNDARY}\r\nContent-Disposition: form-data; name="json"\r\n\r\n'.encode()
        + json_text
        + f"\r\n--{MULTIPART_BOUNDARY}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={MULTIPART_BOUNDARY}"


Sign = Callable[[GoliveEvent, str, str, int], Signed]


@dataclass(frozen=True)
class VendorFormat:
    """One vendor's wire: ``sign(event, secret, delivery id, unix time)`` builds a delivery;
    the tamperers return a forged copy (None: the vendor signs nothing that could catch it)."""

    provider: str
    sign: Sign
    acknowledgement: Callable[[str], tuple[int, bytes]]
    tamper_body: Callable[[Signed], Signed] | None
    tamper_signature: Callable[[Signed], Signed]
    signs_time: bool = False


def _plain_ack(_secret: str) -> tuple[int, bytes]:
    return 200, b""


def _standard(event: GoliveEvent, secret: str, delivery_id: str, stamp: int) -> Signed:
    # inkbridge's own event format: the checks' bytes travel as they are.
    body = event.sandbox_body
    return Signed(body, {"content-type": JSON, **signed_headers(secret, delivery_id, stamp, body)})


def _standard_signature(signed: Signed) -> Signed:
    scheme, _, digest = signed.headers["webhook-signature"].partition(",")
    forged = f"{scheme},{_flip_base64(digest)}"
    return replace(signed, headers={**signed.headers, "webhook-signature": forged})


def _recipient_flipped(signed: Signed) -> Signed:
    # The recipient id is in every body golive sends and covered by every body signature.
    return replace(signed, body=signed.body.replace(b"golive-signer", b"golive-signeR", 1))


def _json(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _docusign(event: GoliveEvent, secret: str, delivery_id: str, _stamp: int) -> Signed:
    body = _json(BODIES["docusign"](event, delivery_id))
    return Signed(
        body, {"content-type": JSON, "x-docusign-signature-1": docusign_signature(secret, body)}
    )


def _docusign_signature(signed: Signed) -> Signed:
    forged = _flip_base64(signed.headers["x-docusign-signature-1"])
    return replace(signed, headers={**signed.headers, "x-docusign-signature-1": forged})


def _dropbox_sign(event: GoliveEvent, secret: str, delivery_id: str, _stamp: int) -> Signed:
    document = BODIES["dropbox_sign"](event, delivery_id)
    found = document["event"]
    found["event_hash"] = dropbox_sign_event_hash(secret, found["event_time"], found["event_type"])
    body, content_type = _multipart(_json(document))
    return Signed(body, {"content-type": content_type})


def _dropbox_time_moved(signed: Signed) -> Signed:
    # Only event_time and event_type are signed: a second more is a body the hash must refuse.
    start = signed.body.index(b'"event_time":"') + len(b'"event_time":"')
    end = signed.body.index(b'"', start)
    moved = str(int(signed.body[start:end]) + 1).encode()
    return replace(signed, body=signed.body[:start] + moved + signed.body[end:])


def _dropbox_hash_flipped(signed: Signed) -> Signed:
    start = signed.body.index(b'"event_hash":"') + len(b'"event_hash":"')
    end = signed.body.index(b'"', start)
    forged = _flip_last(signed.body[start:end].decode()).encode()
    return replace(signed, body=signed.body[:start] + forged + signed.body[end:])


def _dropbox_ack(_secret: str) -> tuple[int, bytes]:
    return 200, b"Hello API Event Received"


def _acrobat_sign(event: GoliveEvent, secret: str, delivery_id: str, _stamp: int) -> Signed:
    body = _json(BODIES["acrobat_sign"](event, delivery_id))
    return Signed(body, {"content-type": JSON, "x-adobesign-clientid": secret})


def _acrobat_ack(client_id: str) -> tuple[int, bytes]:
    # The connection's client id echoed back, as the adapter answers (and Adobe checks).
    return 200, json.dumps({"xAdobeSignClientId": client_id}).encode()


def _acrobat_stranger(signed: Signed) -> Signed:
    return replace(signed, headers={**signed.headers, "x-adobesign-clientid": "golive-stranger"})


def _pandadoc(event: GoliveEvent, secret: str, delivery_id: str, _stamp: int) -> Signed:
    body = _json(BODIES["pandadoc"](event, delivery_id))
    headers = {"content-type": JSON, "x-pandadoc-webhook-event-id": delivery_id}
    return Signed(body, headers, {"signature": pandadoc_signature(secret, body)})


def _pandadoc_signature(signed: Signed) -> Signed:
    return replace(signed, query={"signature": _flip_last(signed.query["signature"])})


def _documenso(event: GoliveEvent, secret: str, delivery_id: str, _stamp: int) -> Signed:
    body = _json(BODIES["documenso"](event, delivery_id))
    headers = {
        "content-type": JSON,
        "x-documenso-secret": secret,
        "x-documenso-delivery-id": delivery_id,
    }
    return Signed(body, headers)


def _documenso_wrong_secret(signed: Signed) -> Signed:
    forged = _flip_last(signed.headers["x-documenso-secret"])
    return replace(signed, headers={**signed.headers, "x-documenso-secret": forged})


def _docuseal(event: GoliveEvent, secret: str, delivery_id: str, stamp: int) -> Signed:
    body = _json(BODIES["docuseal"](event, delivery_id))
    return Signed(
        body,
        {"content-type": JSON, "x-docuseal-signature": docuseal_signature(secret, stamp, body)},
    )


def _docuseal_signature(signed: Signed) -> Signed:
    forged = _flip_last(signed.headers["x-docuseal-signature"])
    return replace(signed, headers={**signed.headers, "x-docuseal-signature": forged})


STANDARD = VendorFormat(
    "standard_webhooks",
    _standard,
    lambda _: (200, b'{"ok":true}'),
    _recipient_flipped,
    _standard_signature,
    signs_time=True,
)

FORMATS: dict[str, VendorFormat] = {
    "sandbox": replace(STANDARD, provider="sandbox"),
    "standard_webhooks": STANDARD,
    "docusign": VendorFormat(
        "docusign", _docusign, _plain_ack, _recipient_flipped, _docusign_signature
    ),
    "dropbox_sign": VendorFormat(
        "dropbox_sign", _dropbox_sign, _dropbox_ack, _dropbox_time_moved, _dropbox_hash_flipped
    ),
    "acrobat_sign": VendorFormat(
        "acrobat_sign", _acrobat_sign, _acrobat_ack, None, _acrobat_stranger
    ),
    "pandadoc": VendorFormat(
        "pandadoc", _pandadoc, _plain_ack, _recipient_flipped, _pandadoc_signature
    ),
    "documenso": VendorFormat("documenso", _documenso, _plain_ack, None, _documenso_wrong_secret),
    "docuseal": VendorFormat(
        "docuseal", _docuseal, _plain_ack, _recipient_flipped, _docuseal_signature, signs_time=True
    ),
}


def format_of(provider: str) -> VendorFormat | None:
    return FORMATS.get(provider)
