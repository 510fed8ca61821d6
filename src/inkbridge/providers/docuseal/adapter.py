"""DocuSeal: the inbound webhook adapter.

Verification: ``X-Docuseal-Signature: <unix_ts>.<hex HMAC-SHA256(key, "<unix_ts>.<raw body>")>``
where the key is the ``whsec_…`` string used as is (UTF-8 bytes, not base64-decoded as Standard
Webhooks would), with a five-minute tolerance either side of the arrival time. The body is
``{event_type, timestamp, data}``; ``timestamp`` is stable across retries, so the dedup key is
(event_type, data.id, timestamp). ``form.*`` events describe one submitter (``data`` is the
submitter, ``data.submission_id`` the envelope); ``submission.*`` events describe the whole
submission (``data`` is the submission).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import SecretStr

from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.errors import MalformedPayload, SignatureInvalid
from inkbridge.providers._common import (
    META_ENVELOPE,
    SecretsAdapter,
    composite_key,
    inkbridge_metadata,
    load_json_object,
    object_at,
    parse_time,
    text_or_none,
)
from inkbridge.providers.base import InboundRequest

SIGNATURE_HEADER = "x-docuseal-signature"

EVENTS: dict[str, EventType] = {
    "submission.created": EventType.DOCUMENT_SENT,
    "form.viewed": EventType.DOCUMENT_VIEWED,
    "form.completed": EventType.RECIPIENT_SIGNED,
    "submission.completed": EventType.DOCUMENT_COMPLETED,
    "form.declined": EventType.DOCUMENT_DECLINED,
    "submission.archived": EventType.DOCUMENT_VOIDED,
    "submission.expired": EventType.DOCUMENT_EXPIRED,
}


def _metadata(data: dict[str, Any]) -> dict[str, str]:
    # A submitter carries metadata and external_id; a submission event carries its submitters.
    sources = [data]
    submitters = data.get("submitters")
    if isinstance(submitters, list):
        sources += [s for s in submitters if isinstance(s, dict)]
    found: dict[str, str] = {}
    for source in sources:
        for key, value in inkbridge_metadata(object_at(source, "metadata")).items():
            found.setdefault(key, value)
        external_id = text_or_none(source.get("external_id"))
        if external_id is not None:
            # external_id is the slot inkbridge fills with its envelope id.
            found.setdefault(META_ENVELOPE, external_id)
    return found


class DocuSealAdapter(SecretsAdapter):
    """Inbound adapter for DocuSeal form and submission webhooks. Acknowledged with the
    default 200: DocuSeal counts any status below 400 as delivered."""

    provider = "docuseal"
    content_types = frozenset({"application/json"})
    secret_headers = frozenset({SIGNATURE_HEADER})

    def __init__(self, secrets: Sequence[SecretStr], tolerance_seconds: int = 300) -> None:
        super().__init__(secrets)
        self._tolerance = tolerance_seconds

    def verify(self, request: InboundRequest) -> None:
        stamp, _, offered = request.headers.get(SIGNATURE_HEADER, "").strip().partition(".")
        if not stamp or not offered:
            raise SignatureInvalid("no X-Docuseal-Signature of the form <timestamp>.<hex>")
        if not stamp.isdigit():
            raise SignatureInvalid("the signature timestamp is not an integer")
        skew = request.received_at.timestamp() - int(stamp)
        if skew > self._tolerance:
            raise SignatureInvalid("the signature timestamp is too old")
        if skew < -self._tolerance:
            raise SignatureInvalid("the signature timestamp is in the future")
        if not self.hex_hmac_matches(f"{stamp}.".encode() + request.body, offered):
            raise SignatureInvalid("no signature matched")

    def dedup_key(self, request: InboundRequest) -> str:
        body = load_json_object(request.body)
        event_type = text_or_none(body.get("event_type"))
        record_id = text_or_none(object_at(body, "data").get("id"))
        if event_type is None or record_id is None:
            raise MalformedPayload("body must carry 'event_type' and 'data.id'")
        return composite_key([event_type, record_id, text_or_none(body.get("timestamp")) or ""])

    def parse(self, request: InboundRequest) -> list[NormalizedEvent]:
        body = load_json_object(request.body)
        vendor_event = str(body.get("event_type", ""))
        event_type = EVENTS.get(vendor_event)
        if event_type is None:
            return []  # form.started, template events and unknown ones are stored and ignored
        data = object_at(body, "data")
        is_form_event = vendor_event.startswith("form.")
        if is_form_event:
            submission_id = text_or_none(data.get("submission_id")) or text_or_none(
                object_at(data, "submission").get("id")
            )
        else:
            submission_id = text_or_none(data.get("id"))
        if submission_id is None:
            raise MalformedPayload("the submission id is missing from 'data'")
        return [
            NormalizedEvent(
                type=event_type,
                provider=self.provider,
                provider_envelope_id=submission_id,
                occurred_at=parse_time(body.get("timestamp"), "timestamp", request.received_at),
                recipient_id=text_or_none(data.get("id")) if is_form_event else None,
                recipient_email=text_or_none(data.get("email")) if is_form_event else None,
                vendor_event=vendor_event,
                metadata=_metadata(data),
            )
        ]
