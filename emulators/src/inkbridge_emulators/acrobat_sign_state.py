"""Acrobat Sign emulator state: agreements, OAuth tokens, the registered webhook and the
notifications it sends (webhooks 2.0, in Adobe's format). The HTTP surface is ``acrobat_sign``.
"""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from inkbridge_emulators._book import (
    BookEnvelope,
    BookSigner,
    EmulatorRefusal,
    EnvelopeBook,
    Transition,
    VendorEmulator,
    iso,
)
from inkbridge_emulators.faults import Chaos

CLIENT_ID_HEADER = "X-ADOBESIGN-CLIENTID"
SENDER_ID = "CBJCHBCAABAAsender000000000000000001"
SENDER_EMAIL = "sender@acrobat-emulator.test"
APPLICABLE_SENDER = {
    "id": SENDER_ID,
    "email": SENDER_EMAIL,
    "role": "SENDER",
    "payloadApplicable": "true",
}

STATUSES = {
    "created": "DOCUMENTS_NOT_YET_PROCESSED",
    "sent": "OUT_FOR_SIGNATURE",
    "completed": "SIGNED",
    "declined": "CANCELLED",  # v6 reports a rejected agreement as CANCELLED too
    "voided": "CANCELLED",
    "expired": "EXPIRED",
}
# Transition action -> (webhook event, audit event type).
EVENTS = {
    "view": ("AGREEMENT_EMAIL_VIEWED", "EMAIL_VIEWED"),
    "sign": ("AGREEMENT_ACTION_COMPLETED", "ESIGNED"),
    "decline": ("AGREEMENT_REJECTED", "REJECTED"),
    "void": ("AGREEMENT_RECALLED", "RECALLED"),
    "expire": ("AGREEMENT_EXPIRED", "EXPIRED"),
}


def _adobe_id() -> str:
    return "CBJCHBCAABAA" + secrets.token_hex(12)


def echoes(response: httpx.Response, client_id: str) -> bool:
    """Whether an answer proves intent: 2xx and the client id echoed back."""
    if not 200 <= response.status_code < 300:
        return False
    if response.headers.get("x-adobesign-clientid") == client_id:
        return True
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("xAdobeSignClientId") == client_id


def _member_status(envelope: BookEnvelope, signer: BookSigner) -> str:
    if signer.signed_at is not None:
        return "COMPLETED"
    if envelope.status in {"declined", "voided"}:
        return "CANCELLED"
    if envelope.status == "expired":
        return "EXPIRED"
    current = envelope.signer(None)
    return "WAITING_FOR_MY_SIGNATURE" if current is signer else "NOT_YET_VISIBLE"


class AcrobatSignEmulator(VendorEmulator):
    """Acrobat Sign's state: agreements, OAuth tokens and the registered webhook.

    ``client`` (optional) carries the webhooks, e.g. over ``httpx.ASGITransport`` in tests.
    """

    def __init__(
        self,
        *,
        webhook_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        chaos: Chaos | None = None,
        client: httpx.AsyncClient | None = None,
        public_url: str = "https://secure.acrobat-emulator.test",
        token_ttl_seconds: int = 3600,
    ) -> None:
        book = EnvelopeBook(_adobe_id, _adobe_id)
        super().__init__(
            webhook_url=webhook_url,
            book=book,
            chaos=chaos,
            client=client,
            accept=lambda response: echoes(response, client_id),
        )
        self.client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self.public_url = public_url.rstrip("/")
        self.token_ttl_seconds = token_ttl_seconds
        self.access_tokens: dict[str, datetime] = {}
        self.refresh_count = 0
        # The webhook given at construction counts as registered beforehand (as in Adobe's UI).
        self.webhook_id = _adobe_id()
        self.webhook_name = "inkbridge"

    def revoke_access_tokens(self) -> None:
        """Invalidate every issued access token (a test hook: the next call answers 401)."""
        self.access_tokens.clear()

    def render_error(self, refusal: EmulatorRefusal) -> Response:
        return JSONResponse(
            {"code": refusal.code, "message": refusal.message}, status_code=refusal.status
        )

    def authorize(self, request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        expires = self.access_tokens.get(token) if scheme.lower() == "bearer" else None
        if expires is None or expires <= datetime.now(UTC):
            raise EmulatorRefusal(
                401, "INVALID_ACCESS_TOKEN", "Access token provided is invalid or has expired"
            )

    def issue_token(self, form: dict[str, str]) -> dict[str, Any]:
        if form.get("grant_type") != "refresh_token":
            raise EmulatorRefusal(400, "unsupported_grant_type", "grant_type must be refresh_token")
        if not (
            secrets.compare_digest(form.get("client_id", ""), self.client_id)
            and secrets.compare_digest(form.get("client_secret", ""), self._client_secret)
        ):
            raise EmulatorRefusal(401, "invalid_client", "invalid client credentials")
        if not secrets.compare_digest(form.get("refresh_token", ""), self._refresh_token):
            raise EmulatorRefusal(400, "invalid_grant", "invalid refresh token")
        token = secrets.token_urlsafe(24)
        self.access_tokens[token] = datetime.now(UTC) + timedelta(seconds=self.token_ttl_seconds)
        self.refresh_count += 1
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.token_ttl_seconds}

    async def register_webhook(self, url: str) -> str:
        """Adobe's registration check: a GET with the client id that must be echoed."""
        if self.emitter.client is None:
            raise EmulatorRefusal(503, "SERVICE_UNAVAILABLE", "the emulator is not started")
        try:
            answer = await self.emitter.client.get(url, headers={CLIENT_ID_HEADER: self.client_id})
        except httpx.HTTPError:
            raise EmulatorRefusal(400, "INVALID_WEBHOOK_URL", "webhook URL unreachable") from None
        if not echoes(answer, self.client_id):
            raise EmulatorRefusal(
                400, "INVALID_WEBHOOK_URL", "webhook URL did not echo the client id"
            )
        self.webhook_url, self.webhook_id = url, _adobe_id()
        return self.webhook_id

    def agreement(self, envelope: BookEnvelope) -> dict[str, Any]:
        return {
            "id": envelope.id,
            "name": envelope.title,
            "status": STATUSES[envelope.status],
            "signatureType": "ESIGN",
            "createdDate": iso(envelope.created_at, millis=False),
            "senderEmail": SENDER_EMAIL,
            "locale": "en_US",
            "externalId": {"id": envelope.external_id} if envelope.external_id else None,
            "fileInfos": [{"libraryDocumentId": envelope.template_id}],
            "participantSetsInfo": [
                {
                    "id": f"set{s.order}",
                    "order": s.order,
                    "role": "SIGNER",
                    "status": _member_status(envelope, s),
                    "memberInfos": [{"id": s.id, "email": s.email, "name": s.name}],
                }
                for s in envelope.signers
            ],
        }

    def publish(self, transition: Transition) -> None:
        """Record the audit events and emit the notifications one transition causes."""
        envelope, at, signer = transition.envelope, transition.at, transition.signer
        notes: list[tuple[str, BookSigner | None]] = []
        if transition.action == "sent":
            self._audit(envelope, "CREATED", at, None)
            notes.append(("AGREEMENT_CREATED", None))
        else:
            event, audit_type = EVENTS[transition.action]
            self._audit(envelope, audit_type, at, signer)
            notes.append((event, signer))
            if transition.completed:
                notes.append(("AGREEMENT_WORKFLOW_COMPLETED", None))
        if transition.next_signer is not None:
            self._audit(envelope, "ACTION_REQUESTED", at, transition.next_signer)
            notes.append(("AGREEMENT_ACTION_REQUESTED", transition.next_signer))
        for event, participant in notes:
            self._emit(event, envelope, at, participant)

    def _audit(
        self, envelope: BookEnvelope, kind: str, at: datetime, signer: BookSigner | None
    ) -> None:
        email, user_id = (signer.email, signer.id) if signer else (SENDER_EMAIL, SENDER_ID)
        envelope.extra.setdefault("events", []).append(
            {
                "id": _adobe_id(),
                "type": kind,
                "date": iso(at, millis=False),
                "participantEmail": email,
                "participantId": user_id,
                "actingUserEmail": email,
                "description": kind.replace("_", " ").lower(),
            }
        )

    def _emit(
        self, event: str, envelope: BookEnvelope, at: datetime, participant: BookSigner | None
    ) -> None:
        user_id = participant.id if participant else SENDER_ID
        email = participant.email if participant else SENDER_EMAIL
        payload: dict[str, Any] = {
            "webhookId": self.webhook_id,
            "webhookName": self.webhook_name,
            "webhookNotificationId": str(uuid.uuid4()),  # one per notification, kept on retry
            "webhookUrlInfo": {"url": self.webhook_url},
            "webhookScope": "ACCOUNT",
            "webhookNotificationApplicableUsers": [APPLICABLE_SENDER],
            "event": event,
            "eventDate": iso(at, millis=False),
            "eventResourceType": "agreement",
            "participantRole": "SIGNER" if participant else "SENDER",
            "participantUserId": user_id,
            "participantUserEmail": email,
            "actingUserId": user_id,
            "actingUserEmail": email,
            "initiatingUserId": user_id,
            "initiatingUserEmail": email,
            "agreement": self.agreement(envelope),
        }
        if event == "AGREEMENT_ACTION_COMPLETED":
            payload["subEvent"] = payload["actionType"] = "ESIGNED"
        body = json.dumps(payload).encode()
        url = self.webhook_url
        headers = {"Content-Type": "application/json", CLIENT_ID_HEADER: self.client_id}
        self.emitter.emit(lambda: (url, headers, body))
