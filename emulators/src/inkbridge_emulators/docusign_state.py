"""The DocuSign emulator's state: envelopes and recipients in memory (read from create
requests), the transitions that test-control actions and the signing page drive, and the
Connect (JSON SIM) message each transition produces.

Transitions follow DocuSign's lifecycle: sent -> delivered (every signer viewed) -> completed
(every signer signed), or declined / voided at any open point. Expiry is a void whose reason is
"Envelope has expired.", since Connect has no expiry event.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

EXPIRED_REASON = "Envelope has expired."
DEFAULT_VOID_REASON = "Voided by sender."
OPEN_STATUSES = frozenset({"sent", "delivered"})
ACTIONS = frozenset({"view", "sign", "decline", "void", "expire", "bounce"})


def ds_time(moment: datetime) -> str:
    """A time as DocuSign writes it: UTC with seven fractional digits (``...05.1470000Z``)."""
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}0Z"


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    # DocuSign leaves unset fields out rather than sending nulls.
    return {key: value for key, value in values.items() if value is not None}


@dataclass
class Recipient:
    recipient_id: str
    name: str
    email: str
    client_user_id: str | None = None
    role_name: str | None = None
    routing_order: str = "1"
    status: str = "created"
    guid: str = field(default_factory=lambda: str(uuid.uuid4()))
    sent_at: str | None = None
    delivered_at: str | None = None
    signed_at: str | None = None
    declined_at: str | None = None
    declined_reason: str | None = None

    def summary(self) -> dict[str, Any]:
        return _without_none(
            {
                "name": self.name,
                "email": self.email,
                "recipientId": self.recipient_id,
                "recipientIdGuid": self.guid,
                "clientUserId": self.client_user_id,
                "roleName": self.role_name,
                "routingOrder": self.routing_order,
                "status": self.status,
                "sentDateTime": self.sent_at,
                "deliveredDateTime": self.delivered_at,
                "signedDateTime": self.signed_at,
                "declinedDateTime": self.declined_at,
                "declinedReason": self.declined_reason,
            }
        )


@dataclass
class Envelope:
    envelope_id: str
    account_id: str
    status: str
    email_subject: str
    created_at: str
    recipients: list[Recipient]
    text_custom_fields: list[dict[str, str]]
    definition: dict[str, Any]  # the create request as received, for tests to inspect
    template_id: str | None = None
    sent_at: str | None = None
    delivered_at: str | None = None
    completed_at: str | None = None
    declined_at: str | None = None
    voided_at: str | None = None
    voided_reason: str | None = None
    status_changed_at: str | None = None
    last_modified_at: str | None = None

    @property
    def uri(self) -> str:
        return f"/envelopes/{self.envelope_id}"

    def summary(self, *, recipients: bool = True, custom_fields: bool = True) -> dict[str, Any]:
        """The envelope as ``GET .../envelopes/{id}`` and Connect's envelopeSummary show it."""
        out = _without_none(
            {
                "envelopeId": self.envelope_id,
                "status": self.status,
                "emailSubject": self.email_subject,
                "envelopeUri": self.uri,
                "documentsUri": f"{self.uri}/documents",
                "recipientsUri": f"{self.uri}/recipients",
                "customFieldsUri": f"{self.uri}/custom_fields",
                "createdDateTime": self.created_at,
                "lastModifiedDateTime": self.last_modified_at,
                "initialSentDateTime": self.sent_at,
                "sentDateTime": self.sent_at,
                "deliveredDateTime": self.delivered_at,
                "completedDateTime": self.completed_at,
                "declinedDateTime": self.declined_at,
                "voidedDateTime": self.voided_at,
                "voidedReason": self.voided_reason,
                "statusChangedDateTime": self.status_changed_at,
            }
        )
        if custom_fields:
            out["customFields"] = {
                "textCustomFields": [dict(f) for f in self.text_custom_fields],
                "listCustomFields": [],
            }
        if recipients:
            out["recipients"] = {
                "signers": [r.summary() for r in self.recipients],
                "recipientCount": str(len(self.recipients)),
                "currentRoutingOrder": "1",
            }
        return out

    def recipient(self, recipient_id: str | None) -> Recipient:
        """The named recipient, or the first one who still has something to do."""
        if recipient_id is not None:
            for candidate in self.recipients:
                if candidate.recipient_id == recipient_id:
                    return candidate
            raise Refusal(404, "UNKNOWN_ENVELOPE_RECIPIENT", "no such recipient")
        for candidate in self.recipients:
            if candidate.status not in {"completed", "declined"}:
                return candidate
        return self.recipients[0]


class Refusal(Exception):
    """What DocuSign would answer with an error: a request it cannot accept, or an action the
    envelope's state does not allow."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


INCOMPLETE = (
    "The Envelope is not Complete. A Complete Envelope Requires Documents, Recipients, "
    "Tabs, and a Subject Line."
)
MAX_CUSTOM_FIELD_VALUE = 100  # DocuSign's documented limit for a custom field string


def recipients_of(body: dict[str, Any], templates: dict[str, tuple[str, ...]]) -> list[Recipient]:
    """The recipients an ``envelopeDefinition`` names: template roles, or inline signers.

    ``templates`` (template id -> role names) is checked only when configured.
    """
    template_id = body.get("templateId")
    known: tuple[str, ...] | None = None
    if template_id:
        known = templates.get(template_id)
        if templates and known is None:
            raise Refusal(400, "TEMPLATE_ID_INVALID", "Invalid template ID.")
        entries = body.get("templateRoles") or []
    elif body.get("documents"):
        entries = (body.get("recipients") or {}).get("signers") or []
    else:
        raise Refusal(400, "ENVELOPE_IS_INCOMPLETE", INCOMPLETE)
    recipients = []
    for index, entry in enumerate(entries, start=1):
        name, email, role = entry.get("name"), entry.get("email"), entry.get("roleName")
        if not name or not isinstance(email, str) or "@" not in email:
            raise Refusal(
                400,
                "INVALID_EMAIL_ADDRESS_FOR_RECIPIENT",
                "The email address for the recipient is invalid.",
            )
        if template_id and (not role or (known is not None and role not in known)):
            raise Refusal(400, "INVALID_REQUEST_PARAMETER", f"unknown roleName {role!r}")
        recipients.append(
            Recipient(
                recipient_id=str(entry.get("recipientId") or index),
                name=name,
                email=email,
                client_user_id=entry.get("clientUserId"),
                role_name=role,
                routing_order=str(entry.get("routingOrder") or "1"),
            )
        )
    return recipients


def custom_fields_of(body: dict[str, Any]) -> list[dict[str, str]]:
    """The text custom fields of an ``envelopeDefinition``, with the ids DocuSign assigns."""
    fields = []
    items = (body.get("customFields") or {}).get("textCustomFields") or []
    for number, item in enumerate(items):
        name, value = item.get("name"), str(item.get("value") or "")
        if not name:
            raise Refusal(400, "INVALID_REQUEST_PARAMETER", "a custom field needs a name")
        if len(value) > MAX_CUSTOM_FIELD_VALUE:
            raise Refusal(400, "INVALID_REQUEST_PARAMETER", f"custom field {name!r} is too long")
        fields.append(
            {
                "fieldId": str(10_000_000 + number),
                "name": name,
                "show": str(item.get("show") or "false"),
                "required": str(item.get("required") or "false"),
                "value": value,
            }
        )
    return fields


# One transition's output: the Connect events to emit, each with its recipient (if any).
Emitted = list[tuple[str, Recipient | None]]


def send(envelope: Envelope, now: datetime) -> Emitted:
    """A just-created envelope with status "sent": DocuSign reports the envelope, then each
    recipient of the first routing order."""
    stamp = ds_time(now)
    envelope.sent_at = envelope.status_changed_at = envelope.last_modified_at = stamp
    events: Emitted = [("envelope-sent", None)]
    for recipient in envelope.recipients:
        recipient.status = "sent"
        recipient.sent_at = stamp
        events.append(("recipient-sent", recipient))
    return events


def apply_action(
    envelope: Envelope,
    action: str,
    now: datetime,
    *,
    recipient_id: str | None = None,
    reason: str | None = None,
) -> Emitted:
    """Change ``envelope`` as ``action`` does at DocuSign; the Connect events it causes."""
    if action not in ACTIONS:
        raise Refusal(404, "UNKNOWN_ACTION", f"unknown action {action!r}")
    if envelope.status not in OPEN_STATUSES:
        raise Refusal(409, "ENVELOPE_INVALID_STATUS", f"the envelope is {envelope.status}")
    # Each event gets its own instant, so a batch keeps its order and distinct times.
    clock = iter(now + timedelta(microseconds=i) for i in range(10_000))
    envelope.last_modified_at = ds_time(now)
    if action in {"void", "expire"}:
        envelope.status = "voided"
        envelope.voided_at = envelope.status_changed_at = ds_time(next(clock))
        envelope.voided_reason = EXPIRED_REASON if action == "expire" else reason
        envelope.voided_reason = envelope.voided_reason or DEFAULT_VOID_REASON
        return [("envelope-voided", None)]
    recipient = envelope.recipient(recipient_id)
    if action == "bounce":
        recipient.status = "autoresponded"
        return [("recipient-autoresponded", recipient)]
    if recipient.status in {"completed", "declined"}:
        raise Refusal(409, "RECIPIENT_INVALID_STATUS", f"the recipient is {recipient.status}")
    events: Emitted = []
    if recipient.delivered_at is None:
        # Signing or declining without having opened the document is impossible at DocuSign.
        recipient.status = "delivered"
        recipient.delivered_at = ds_time(next(clock))
        events.append(("recipient-delivered", recipient))
        if all(r.delivered_at for r in envelope.recipients) and envelope.status == "sent":
            envelope.status = "delivered"
            envelope.delivered_at = envelope.status_changed_at = recipient.delivered_at
            events.append(("envelope-delivered", None))
    if action == "sign":
        recipient.status = "completed"
        recipient.signed_at = ds_time(next(clock))
        events.append(("recipient-completed", recipient))
        if all(r.status == "completed" for r in envelope.recipients):
            envelope.status = "completed"
            envelope.completed_at = envelope.status_changed_at = ds_time(next(clock))
            events.append(("envelope-completed", None))
    elif action == "decline":
        recipient.status = "declined"
        recipient.declined_at = ds_time(next(clock))
        recipient.declined_reason = reason or "Declined by the signer."
        events.append(("recipient-declined", recipient))
        envelope.status = "declined"
        envelope.declined_at = envelope.status_changed_at = ds_time(next(clock))
        events.append(("envelope-declined", None))
    return events


def connect_message(
    envelope: Envelope,
    event: str,
    recipient: Recipient | None,
    *,
    user_id: str,
    configuration_id: int,
    generated_at: str,
) -> dict[str, Any]:
    """A Connect JSON SIM message (``retryCount`` 0; the emitter counts attempts)."""
    summary = envelope.summary()
    summary["sender"] = {"userName": "Inkbridge Emulator", "userId": user_id}
    summary["sender"]["accountId"] = envelope.account_id
    data: dict[str, Any] = {
        "accountId": envelope.account_id,
        "userId": user_id,
        "envelopeId": envelope.envelope_id,
    }
    if recipient is not None:
        data["recipientId"] = recipient.recipient_id
    data["envelopeSummary"] = summary
    return {
        "event": event,
        "apiVersion": "v2.1",
        "uri": f"/restapi/v2.1/accounts/{envelope.account_id}{envelope.uri}",
        "retryCount": 0,
        "configurationId": configuration_id,
        "generatedDateTime": generated_at,
        "data": data,
    }
