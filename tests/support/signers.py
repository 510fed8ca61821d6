"""Valid deliveries for every provider kind, signed the way each vendor signs, from any bytes.

Each ``Provider`` turns a JSON document into the bytes it would send (``encode``; Dropbox Sign
wraps it in a form) and signs whatever bytes it is given (``sign``): hostile tests mutate the
encoded text and then sign it, so a refusal is about the body and not about the signature.
``fresh`` gives each delivery its own dedup key, so a body accepted by mistake cannot hide as a
duplicate of an earlier one.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from math import floor
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes

from inkbridge.vendor_http.signing import sign as sign_standard
from inkbridge.vendor_http.vendor_signatures import (
    docuseal_signature,
    docusign_signature,
    dropbox_sign_event_hash,
    pandadoc_signature,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
DOCUSIGN_KEY = "connect-key-hostile"
DROPBOX_API_KEY = "dropbox-api-key-hostile"
ACROBAT_CLIENT_ID = "acrobat-client-hostile"
PANDADOC_KEY = "pandadoc-shared-key-hostile"
DOCUMENSO_SECRET = "documenso-secret-hostile"
DOCUSEAL_SECRET = "whsec_ZG9jdXNlYWwtaG9zdGlsZQ=="


def _fixture(vendor: str, name: str) -> Any:
    return json.loads((FIXTURES / vendor / name).read_text())


@dataclass(frozen=True)
class Delivery:
    content: bytes
    headers: dict[str, str]
    params: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Provider:
    """One provider kind as a sender: its document, how it encodes, signs and deduplicates."""

    kind: str
    secret: str
    document: Callable[[], Any]
    # (document, unique token) -> the document with a dedup key of its own
    fresh: Callable[[Any, str], Any]
    # (signed bytes, secret, unique token) -> headers and query parameters
    signer: Callable[[bytes, str, str], tuple[dict[str, str], dict[str, str]]]
    content_type: str = "application/json"
    # The JSON text travels inside a form field (Dropbox Sign).
    form_field: str | None = None
    # A key whose absence makes the delivery unreadable (for homoglyph keys); None: no such key.
    required_key: str | None = None

    def json_text(self) -> bytes:
        """A fresh, valid document as JSON bytes (what hostile cases mutate)."""
        token = uuid.uuid4().hex
        return json.dumps(self.fresh(self.document(), token)).encode()

    def deliver(self, json_bytes: bytes, secret: str | None = None) -> Delivery:
        """The request carrying ``json_bytes``, signed (with ``secret`` if given)."""
        content = json_bytes
        if self.form_field is not None:
            content = f"{self.form_field}=".encode() + quote_from_bytes(json_bytes).encode()
        headers, params = self.signer(content, secret or self.secret, uuid.uuid4().hex)
        return Delivery(content, {"content-type": self.content_type, **headers}, params)


def _standard_signer(body: bytes, secret: str, token: str) -> tuple[dict[str, str], dict[str, str]]:
    stamp = floor(datetime.now(UTC).timestamp())
    msg_id = f"msg_{token}"
    signature = sign_standard(secret, msg_id, stamp, body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": signature,
    }, {}


def _standard_document() -> Any:
    return {
        "type": "document_sent",
        "timestamp": "2026-03-02T10:00:00Z",
        "data": {"envelope_id": "env-hostile", "occurred_at": "2026-03-02T10:00:00Z"},
    }


def _docusign_signer(body: bytes, secret: str, _: str) -> tuple[dict[str, str], dict[str, str]]:
    return {"x-docusign-signature-1": docusign_signature(secret, body)}, {}


def _docusign_fresh(doc: Any, token: str) -> Any:
    doc["data"]["envelopeId"] = token
    return doc


def _dropbox_document() -> Any:
    doc = _fixture("dropbox_sign", "signature_request_signed.json")
    event = doc["event"]
    event["event_hash"] = dropbox_sign_event_hash(
        DROPBOX_API_KEY, str(event["event_time"]), event["event_type"]
    )
    return doc


def _dropbox_fresh(doc: Any, token: str) -> Any:
    doc["signature_request"]["signature_request_id"] = token
    return doc


def _no_headers(_body: bytes, _secret: str, _token: str) -> tuple[dict[str, str], dict[str, str]]:
    # Dropbox Sign signs inside the body (event.event_hash), fixed by the document itself.
    return {}, {}


def _acrobat_signer(_body: bytes, secret: str, _: str) -> tuple[dict[str, str], dict[str, str]]:
    return {"x-adobesign-clientid": secret}, {}


def _acrobat_fresh(doc: Any, token: str) -> Any:
    doc["webhookNotificationId"] = token
    return doc


def _pandadoc_signer(body: bytes, secret: str, token: str) -> tuple[dict[str, str], dict[str, str]]:
    return {"x-pandadoc-webhook-event-id": token}, {"signature": pandadoc_signature(secret, body)}


def _documenso_signer(
    _body: bytes, secret: str, token: str
) -> tuple[dict[str, str], dict[str, str]]:
    return {"x-documenso-secret": secret, "x-documenso-delivery-id": token}, {}


def _docuseal_signer(body: bytes, secret: str, _: str) -> tuple[dict[str, str], dict[str, str]]:
    stamp = floor(datetime.now(UTC).timestamp())
    return {"x-docuseal-signature": docuseal_signature(secret, stamp, body)}, {}


def _docuseal_fresh(doc: Any, token: str) -> Any:
    doc["data"]["id"] = int(token[:12], 16)
    return doc


def _unchanged(doc: Any, _token: str) -> Any:
    return doc


def _fixture_loader(vendor: str, name: str) -> Callable[[], Any]:
    return lambda: copy.deepcopy(_fixture(vendor, name))


PROVIDERS: tuple[Provider, ...] = (
    *(
        Provider(
            name,
            STANDARD_SECRET,
            _standard_document,
            _unchanged,
            _standard_signer,
            required_key="type",
        )
        for name in ("sandbox", "standard_webhooks")
    ),
    Provider(
        "docusign",
        DOCUSIGN_KEY,
        _fixture_loader("docusign", "recipient-completed.json"),
        _docusign_fresh,
        _docusign_signer,
        required_key="event",
    ),
    Provider(
        "dropbox_sign",
        DROPBOX_API_KEY,
        _dropbox_document,
        _dropbox_fresh,
        _no_headers,
        content_type="application/x-www-form-urlencoded",
        form_field="json",
        required_key="event",
    ),
    Provider(
        "acrobat_sign",
        ACROBAT_CLIENT_ID,
        _fixture_loader("acrobat_sign", "agreement_action_completed.json"),
        _acrobat_fresh,
        _acrobat_signer,
        required_key="webhookNotificationId",
    ),
    Provider(
        "pandadoc",
        PANDADOC_KEY,
        _fixture_loader("pandadoc", "document_state_changed.json"),
        _unchanged,
        _pandadoc_signer,
    ),
    Provider(
        "documenso",
        DOCUMENSO_SECRET,
        _fixture_loader("documenso", "document_signed.json"),
        _unchanged,
        _documenso_signer,
        required_key="event",
    ),
    Provider(
        "docuseal",
        DOCUSEAL_SECRET,
        _fixture_loader("docuseal", "form_completed.json"),
        _docuseal_fresh,
        _docuseal_signer,
        required_key="event_type",
    ),
)
