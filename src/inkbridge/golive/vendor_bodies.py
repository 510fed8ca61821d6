"""A golive test event in each e-signature vendor's own vocabulary: the JSON document DocuSign
Connect, Dropbox Sign, Acrobat Sign, PandaDoc, Documenso and DocuSeal would send about it, shaped
the way each provider adapter reads it (event name, envelope id, acting recipient, time and
the metadata slot the vendor has for inkbridge's ids). The checks describe their events in the
sandbox format (``sandbox.provider_wire``); ``GoliveEvent.from_sandbox`` reads one back."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

META_LEAD = "inkbridge_lead_id"


@dataclass(frozen=True)
class GoliveEvent:
    """What one test delivery says, whatever the vendor format it travels in."""

    kind: str  # an inkbridge EventType value: document_sent, recipient_signed, …
    envelope_id: str
    occurred_at: datetime
    recipient_id: str | None
    recipient_email: str | None
    metadata: Mapping[str, str]
    # The event as the checks wrote it: inkbridge's own format sends exactly these bytes.
    sandbox_body: bytes

    @classmethod
    def from_sandbox(cls, body: bytes) -> GoliveEvent:
        document = json.loads(body)
        data = document["data"]
        return cls(
            kind=str(document["type"]),
            envelope_id=str(data["envelope_id"]),
            occurred_at=datetime.fromisoformat(data["occurred_at"]),
            recipient_id=data.get("recipient_id"),
            recipient_email=data.get("recipient_email"),
            metadata=dict(data.get("metadata") or {}),
            sandbox_body=body,
        )

    @property
    def iso(self) -> str:
        return self.occurred_at.isoformat().replace("+00:00", "Z")


class NotSpoken(ValueError):
    """An event golive cannot say in a connection's format (its row does not apply)."""


def _vendor_event(kind: str, names: Mapping[str, str], vendor: str) -> str:
    try:
        return names[kind]
    except KeyError:
        raise NotSpoken(f"golive sends no {kind!r} event in the {vendor} format") from None


DOCUSIGN_EVENTS = {
    "document_sent": "envelope-sent",
    "document_viewed": "recipient-delivered",
    "recipient_signed": "recipient-completed",
    "document_completed": "envelope-completed",
    "document_declined": "recipient-declined",
}


def docusign(event: GoliveEvent, _delivery_id: str) -> dict[str, Any]:
    """A Connect JSON SIM message: the ids in ``textCustomFields``, the signer in ``signers``;
    ``generatedDateTime`` is the event's time (the adapter reads it as such)."""
    recipient = event.recipient_id or "1"
    return {
        "event": _vendor_event(event.kind, DOCUSIGN_EVENTS, "DocuSign"),
        "apiVersion": "v2.1",
        "retryCount": 0,
        "generatedDateTime": event.iso,
        "data": {
            "envelopeId": event.envelope_id,
            "recipientId": recipient,
            "envelopeSummary": {
                "envelopeId": event.envelope_id,
                "statusChangedDateTime": event.iso,
                "customFields": {
                    "textCustomFields": [
                        {"name": name, "value": value} for name, value in event.metadata.items()
                    ]
                },
                "recipients": {
                    "signers": [{"recipientId": recipient, "email": event.recipient_email}]
                },
            },
        },
    }


DROPBOX_SIGN_EVENTS = {
    "document_sent": "signature_request_sent",
    "document_viewed": "signature_request_viewed",
    "recipient_signed": "signature_request_signed",
    "document_completed": "signature_request_all_signed",
    "document_declined": "signature_request_declined",
}


def dropbox_sign(event: GoliveEvent, _delivery_id: str) -> dict[str, Any]:
    """A callback's ``json`` field, without its ``event_hash`` (the format adds it)."""
    signature = event.recipient_id or "golive-signature"
    return {
        "event": {
            "event_time": str(int(event.occurred_at.timestamp())),
            "event_type": _vendor_event(event.kind, DROPBOX_SIGN_EVENTS, "Dropbox Sign"),
            "event_metadata": {"related_signature_id": signature},
        },
        "signature_request": {
            "signature_request_id": event.envelope_id,
            "metadata": dict(event.metadata),
            "signatures": [
                {"signature_id": signature, "signer_email_address": event.recipient_email}
            ],
        },
    }


ACROBAT_SIGN_EVENTS = {
    "document_sent": "AGREEMENT_ACTION_REQUESTED",
    "document_viewed": "AGREEMENT_EMAIL_VIEWED",
    "recipient_signed": "AGREEMENT_ACTION_COMPLETED",
    "document_completed": "AGREEMENT_WORKFLOW_COMPLETED",
    "document_declined": "AGREEMENT_REJECTED",
}


def acrobat_sign(event: GoliveEvent, delivery_id: str) -> dict[str, Any]:
    """A webhooks 2.0 notification; the delivery id is ``webhookNotificationId``. Acrobat Sign's
    one slot for inkbridge is ``externalId`` (its envelope id), so the lead id does not travel."""
    agreement: dict[str, Any] = {"id": event.envelope_id}
    if "inkbridge_envelope_id" in event.metadata:
        agreement["externalId"] = {"id": event.metadata["inkbridge_envelope_id"]}
    return {
        "webhookNotificationId": delivery_id,
        "event": _vendor_event(event.kind, ACROBAT_SIGN_EVENTS, "Acrobat Sign"),
        "eventDate": event.iso,
        "participantUserId": event.recipient_id,
        "participantUserEmail": event.recipient_email,
        "agreement": agreement,
    }


PANDADOC_STATUSES = {
    "document_sent": "document.sent",
    "document_viewed": "document.viewed",
    "document_completed": "document.completed",
    "document_declined": "document.declined",
}


def pandadoc(event: GoliveEvent, _delivery_id: str) -> list[dict[str, Any]]:
    """A one-notification array: a state change, or ``recipient_completed`` for a signer."""
    data: dict[str, Any] = {
        "id": event.envelope_id,
        "date_modified": event.iso,
        "metadata": dict(event.metadata),
        "recipients": [{"id": event.recipient_id, "email": event.recipient_email}],
    }
    if event.kind == "recipient_signed":
        data["action_by"] = {"id": event.recipient_id, "email": event.recipient_email}
        data["action_date"] = event.iso
        return [{"event": "recipient_completed", "data": data}]
    data["status"] = _vendor_event(event.kind, PANDADOC_STATUSES, "PandaDoc")
    return [{"event": "document_state_changed", "data": data}]


DOCUMENSO_EVENTS = {
    "document_sent": "DOCUMENT_SENT",
    "document_viewed": "DOCUMENT_OPENED",
    "recipient_signed": "DOCUMENT_SIGNED",
    "document_completed": "DOCUMENT_COMPLETED",
    "document_declined": "DOCUMENT_REJECTED",
}


def documenso(event: GoliveEvent, _delivery_id: str) -> dict[str, Any]:
    """``{event, payload, createdAt}`` with the one recipient; Documenso's one slot for inkbridge
    is ``externalId`` (its envelope id)."""
    return {
        "event": _vendor_event(event.kind, DOCUMENSO_EVENTS, "Documenso"),
        "createdAt": event.iso,
        "payload": {
            "id": event.envelope_id,
            "externalId": event.metadata.get("inkbridge_envelope_id"),
            "updatedAt": event.iso,
            "completedAt": event.iso if event.kind == "document_completed" else None,
            "recipients": [
                {"id": event.recipient_id, "email": event.recipient_email, "signedAt": event.iso}
            ],
        },
    }


DOCUSEAL_EVENTS = {
    "document_sent": "submission.created",
    "document_viewed": "form.viewed",
    "recipient_signed": "form.completed",
    "document_completed": "submission.completed",
    "document_declined": "form.declined",
}


def docuseal(event: GoliveEvent, _delivery_id: str) -> dict[str, Any]:
    """A form event (``data`` is the submitter) or a submission event (``data`` is the
    submission, its submitters carrying the metadata)."""
    vendor_event = _vendor_event(event.kind, DOCUSEAL_EVENTS, "DocuSeal")
    submitter = {
        "id": event.recipient_id,
        "email": event.recipient_email,
        "metadata": dict(event.metadata),
    }
    if vendor_event.startswith("form."):
        data: dict[str, Any] = {**submitter, "submission_id": event.envelope_id}
    else:
        data = {"id": event.envelope_id, "submitters": [submitter]}
    return {"event_type": vendor_event, "timestamp": event.iso, "data": data}


# The document builder of each vendor format, by provider name.
BODIES: dict[str, Callable[[GoliveEvent, str], Any]] = {
    "docusign": docusign,
    "dropbox_sign": dropbox_sign,
    "acrobat_sign": acrobat_sign,
    "pandadoc": pandadoc,
    "documenso": documenso,
    "docuseal": docuseal,
}
