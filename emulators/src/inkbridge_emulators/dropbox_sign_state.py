"""The Dropbox Sign emulator's state: signature requests and their signatures in memory (read
from create requests), the transitions that test-control actions and the signing page drive,
and the callback document each transition produces.

A request is open until every signer signed (``is_complete``), one declined (``is_declined``),
it was canceled (the API then answers 410) or it expired.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from inkbridge.vendor_http.vendor_signatures import dropbox_sign_event_hash

ACTIONS = frozenset({"view", "sign", "decline", "void", "expire", "bounce"})
MAX_METADATA_KEYS = 10
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500


class Refusal(Exception):
    """What Dropbox Sign would answer with an error (``error_name`` is its fixed vocabulary)."""

    def __init__(self, status: int, name: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.name = name
        self.message = message


@dataclass
class Signature:
    name: str
    email: str
    role: str | None
    order: int | None
    signature_id: str = field(default_factory=lambda: secrets.token_hex(16))
    status_code: str = "awaiting_signature"
    signed_at: int | None = None
    last_viewed_at: int | None = None
    decline_reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "signature_id": self.signature_id,
            "signer_email_address": self.email,
            "signer_name": self.name,
            "signer_role": self.role,
            "order": self.order,
            "status_code": self.status_code,
            "decline_reason": self.decline_reason,
            "signed_at": self.signed_at,
            "last_viewed_at": self.last_viewed_at,
            "last_reminded_at": None,
            "has_pin": False,
            "has_sms_auth": False,
        }


@dataclass
class SignatureRequest:
    signature_request_id: str
    title: str
    subject: str | None
    message: str | None
    metadata: dict[str, Any]
    created_at: int
    test_mode: bool
    client_id: str | None
    template_ids: list[str] | None
    signatures: list[Signature]
    custom_fields: list[dict[str, Any]]
    definition: dict[str, Any]  # the create request as received, for tests to inspect
    expires_at: int | None = None
    is_complete: bool = False
    is_declined: bool = False
    canceled: bool = False
    expired: bool = False

    @property
    def is_open(self) -> bool:
        return not (self.is_complete or self.is_declined or self.canceled or self.expired)

    def as_json(self, public_url: str) -> dict[str, Any]:
        """The request as ``GET /signature_request/{id}`` and callbacks show it."""
        ident = self.signature_request_id
        return {
            "test_mode": self.test_mode,
            "signature_request_id": ident,
            "requester_email_address": "sender@example.test",
            "title": self.title,
            "original_title": self.title,
            "subject": self.subject,
            "message": self.message,
            "metadata": dict(self.metadata),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "is_complete": self.is_complete,
            "is_declined": self.is_declined,
            "has_error": False,
            "files_url": f"{public_url}/v3/signature_request/files/{ident}",
            "signing_url": None,
            "details_url": f"{public_url}/home/manage?guid={ident}",
            "cc_email_addresses": [],
            "signing_redirect_url": None,
            "template_ids": self.template_ids,
            "custom_fields": [dict(f) for f in self.custom_fields],
            "response_data": [],
            "signatures": [s.as_json() for s in self.signatures],
        }

    def signature(self, signature_id: str | None) -> Signature:
        """The named signature, or the first one still awaiting its signer."""
        for candidate in self.signatures:
            if signature_id is None and candidate.status_code == "awaiting_signature":
                return candidate
            if candidate.signature_id == signature_id:
                return candidate
        if signature_id is None and self.signatures:
            return self.signatures[0]
        raise Refusal(404, "not_found", "Signature not found")


def check_metadata(metadata: Any) -> dict[str, Any]:
    """``metadata`` if it keeps Dropbox Sign's limits (10 keys, 40-char keys, 500-char values)."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or len(metadata) > MAX_METADATA_KEYS:
        raise Refusal(400, "bad_request", "metadata may hold at most 10 keys")
    for key, value in metadata.items():
        if len(key) > MAX_METADATA_KEY_LENGTH or len(str(value)) > MAX_METADATA_VALUE_LENGTH:
            raise Refusal(
                400, "bad_request", "metadata keys are limited to 40 characters and values to 500"
            )
    return dict(metadata)


def signatures_of(body: dict[str, Any], templates: dict[str, tuple[str, ...]]) -> list[Signature]:
    """The signatures a create request asks for; template roles are checked when known."""
    signers = body.get("signers") or []
    if not signers:
        raise Refusal(400, "bad_request", "At least one signer is required")
    roles: set[str] | None = None
    for template_id in body.get("template_ids") or []:
        if templates and template_id not in templates:
            raise Refusal(404, "not_found", "Template not found")
        roles = (roles or set()) | set(templates.get(template_id, ()))
    out = []
    for index, signer in enumerate(signers):
        email = signer.get("email_address")
        if not isinstance(email, str) or "@" not in email:
            raise Refusal(400, "bad_request", f"signers[{index}] needs a valid email_address")
        role = signer.get("role")
        if roles and role not in roles:
            raise Refusal(400, "bad_request", f"signers[{index}] has an unknown role")
        order = signer.get("order")
        out.append(
            Signature(name=str(signer.get("name") or ""), email=email, role=role, order=order)
        )
    return out


# One transition's output: the callback events to send, each with its related signature.
Emitted = list[tuple[str, Signature | None]]


def apply_action(
    request: SignatureRequest,
    action: str,
    now: int,
    *,
    signature_id: str | None = None,
    reason: str | None = None,
) -> Emitted:
    """Change ``request`` as ``action`` does at Dropbox Sign; the callbacks it causes."""
    if action not in ACTIONS:
        raise Refusal(404, "not_found", f"unknown action {action!r}")
    if not request.is_open:
        raise Refusal(409, "conflict", "The signature request is no longer open")
    if action == "void":
        request.canceled = True
        return [("signature_request_canceled", None)]
    if action == "expire":
        # Expiry as Dropbox Sign shows it: the request's expires_at is now in the past.
        request.expired, request.expires_at = True, now
        return [("signature_request_expired", None)]
    signature = request.signature(signature_id)
    if action == "bounce":
        return [("signature_request_email_bounce", signature)]
    if signature.status_code != "awaiting_signature":
        raise Refusal(409, "conflict", "This signature was already handled")
    events: Emitted = []
    if signature.last_viewed_at is None or action == "view":
        signature.last_viewed_at = now
        events.append(("signature_request_viewed", signature))
    if action == "sign":
        signature.status_code, signature.signed_at = "signed", now
        events.append(("signature_request_signed", signature))
        if all(s.status_code == "signed" for s in request.signatures):
            request.is_complete = True
            events += [
                ("signature_request_all_signed", None),
                ("signature_request_downloadable", None),
            ]
    elif action == "decline":
        signature.status_code, signature.decline_reason = "declined", reason or "Declined"
        request.is_declined = True
        events.append(("signature_request_declined", signature))
    return events


def callback_document(
    request: SignatureRequest,
    event_type: str,
    signature: Signature | None,
    *,
    event_time: int,
    api_key: str,
    account_id: str,
    public_url: str,
) -> dict[str, Any]:
    """The JSON a callback carries in its ``json`` form field."""
    stamp = str(event_time)
    return {
        "event": {
            "event_time": stamp,
            "event_type": event_type,
            "event_hash": dropbox_sign_event_hash(api_key, stamp, event_type),
            "event_metadata": {
                "related_signature_id": signature.signature_id if signature else None,
                "reported_for_account_id": account_id,
                # Embedded requests report to the API app's callback.
                "reported_for_app_id": request.client_id,
                "event_message": None,
            },
        },
        "signature_request": request.as_json(public_url),
    }
