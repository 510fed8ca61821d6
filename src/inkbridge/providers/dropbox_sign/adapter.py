"""Dropbox Sign (formerly HelloSign): the inbound webhook adapter.

Callbacks arrive as ``multipart/form-data`` with the event JSON in the form field ``json``
(``application/x-www-form-urlencoded`` with the same field is accepted too). The signature is
``event.event_hash = hex(HMAC-SHA256(key=API key, msg=event_time + event_type))``: it does not
cover the rest of the body, so terminal states should be confirmed through the API before acting.
There is no delivery id; deliveries are deduplicated on
(signature_request_id, event_type, event_time, related_signature_id). Dropbox Sign counts a
delivery as failed unless the reply body is exactly ``Hello API Event Received``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.errors import MalformedPayload, SignatureInvalid
from inkbridge.providers._common import (
    SecretsAdapter,
    composite_key,
    inkbridge_metadata,
    load_json_object,
    object_at,
    parse_time,
    text_or_none,
)
from inkbridge.providers.base import Acknowledgement, InboundRequest
from inkbridge.providers.form_field import multipart_field

ACK_BODY = b"Hello API Event Received"
JSON_FIELD = "json"
MULTIPART = "multipart/form-data"
FORM_URLENCODED = "application/x-www-form-urlencoded"

EVENTS: dict[str, EventType] = {
    "signature_request_sent": EventType.DOCUMENT_SENT,
    "signature_request_viewed": EventType.DOCUMENT_VIEWED,
    "signature_request_signed": EventType.RECIPIENT_SIGNED,
    "signature_request_all_signed": EventType.DOCUMENT_COMPLETED,
    "signature_request_declined": EventType.DOCUMENT_DECLINED,
    "signature_request_canceled": EventType.DOCUMENT_VOIDED,
    "signature_request_expired": EventType.DOCUMENT_EXPIRED,
    "signature_request_email_bounce": EventType.DOCUMENT_DELIVERY_FAILED,
    "signature_request_remind": EventType.REMINDER_SENT,
}


def _json_field_of_multipart(content_type_header: str, body: bytes, errors: str) -> str | None:
    field = multipart_field(content_type_header, body, JSON_FIELD)
    if field is None:
        return None
    raw, charset = field
    return raw.decode(charset, errors)


def _event_json(request: InboundRequest, *, strict: bool = True) -> dict[str, Any]:
    """The callback's JSON document, from whichever form encoding carried it (``strict``: see
    untrusted_json.loads)."""
    # Strictly, text that is not UTF-8 is refused; leniently it is replaced (U+FFFD), so that
    # the signature can still be read and the strict reading gives the answer (400).
    errors = "strict" if strict else "replace"
    try:
        if request.content_type == FORM_URLENCODED:
            values = parse_qs(
                request.body.decode("utf-8", errors), keep_blank_values=True, errors=errors
            )
            text = values.get(JSON_FIELD, [None])[0]
        else:
            content_type = request.headers.get("content-type", "")
            text = _json_field_of_multipart(content_type, request.body, errors)
    except (UnicodeError, LookupError, ValueError):
        raise MalformedPayload("the form body cannot be read") from None
    if text is None:
        raise MalformedPayload("the form has no 'json' field")
    return load_json_object(text, strict=strict)


def _event_of(document: dict[str, Any]) -> dict[str, Any]:
    event = object_at(document, "event")
    if not isinstance(event.get("event_type"), str) or not event.get("event_time"):
        raise MalformedPayload("'event' must carry event_type and event_time")
    return event


def _signer_email(signature_request: dict[str, Any], signature_id: str) -> str | None:
    signatures = signature_request.get("signatures")
    if not isinstance(signatures, list):
        return None
    for signature in signatures:
        if isinstance(signature, dict) and signature.get("signature_id") == signature_id:
            return text_or_none(signature.get("signer_email_address"))
    return None


class DropboxSignAdapter(SecretsAdapter):
    """Inbound adapter for Dropbox Sign account and app callbacks. Each secret is an API key
    whose account (or app owner) may send callbacks here."""

    provider = "dropbox_sign"
    content_types = frozenset({MULTIPART, FORM_URLENCODED})
    # The event hash covers only time and type, never the body: a terminal state is trusted
    # only once the API confirms it (the worker holds it and asks the reconciler).
    terminal_needs_confirmation = True
    secret_headers: frozenset[str] = frozenset()  # the hash rides inside the body

    def verify(self, request: InboundRequest) -> None:
        # Read leniently: a signed body with, say, a repeated key is a 400 from dedup_key (which
        # reads strictly), not a signature failure.
        try:
            event = _event_of(_event_json(request, strict=False))
        except MalformedPayload:
            raise SignatureInvalid("no event_hash could be read from the body") from None
        offered = text_or_none(event.get("event_hash"))
        if offered is None:
            raise SignatureInvalid("event.event_hash is missing")
        signed = f"{event['event_time']}{event['event_type']}".encode()
        if not self.hex_hmac_matches(signed, offered):
            raise SignatureInvalid("event_hash did not match")

    def dedup_key(self, request: InboundRequest) -> str:
        document = _event_json(request)
        event = _event_of(document)
        signature_request = object_at(document, "signature_request")
        return composite_key(
            [
                text_or_none(signature_request.get("signature_request_id")) or "",
                event["event_type"],
                str(event["event_time"]),
                text_or_none(object_at(event, "event_metadata").get("related_signature_id")) or "",
            ]
        )

    def acknowledge(self, request: InboundRequest) -> Acknowledgement:
        return Acknowledgement(status=200, body=ACK_BODY, media_type="text/plain")

    def parse(self, request: InboundRequest) -> list[NormalizedEvent]:
        document = _event_json(request)
        event = _event_of(document)
        event_type = EVENTS.get(event["event_type"])
        if event_type is None:
            return []  # callback_test, account and template events, and unknown ones
        signature_request = object_at(document, "signature_request")
        request_id = text_or_none(signature_request.get("signature_request_id"))
        if request_id is None:
            raise MalformedPayload("signature_request.signature_request_id is required")
        signature_id = text_or_none(object_at(event, "event_metadata").get("related_signature_id"))
        return [
            NormalizedEvent(
                type=event_type,
                provider=self.provider,
                provider_envelope_id=request_id,
                occurred_at=parse_time(event["event_time"], "event.event_time"),
                recipient_id=signature_id,
                recipient_email=(
                    _signer_email(signature_request, signature_id) if signature_id else None
                ),
                vendor_event=event["event_type"],
                metadata=inkbridge_metadata(object_at(signature_request, "metadata")),
            )
        ]
