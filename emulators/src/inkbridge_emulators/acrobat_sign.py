"""An Adobe Acrobat Sign emulator: the slice of OAuth and REST v6 that ``AcrobatSignClient`` uses,
and webhooks 2.0 notifications in Adobe's format.

API (errors as ``{"code", "message"}``, every ``/api`` call needs ``Authorization: Bearer``):

- ``POST /oauth/v2/refresh`` refresh-token grant (form) -> ``{access_token, expires_in}``
- ``POST /api/rest/v6/agreements`` create from a library document (``state: IN_PROCESS``)
- ``GET /api/rest/v6/agreements/{id}`` status; ``GET …/events`` the audit events
- ``GET /api/rest/v6/agreements/{id}/signingUrls`` the current signers' e-sign URLs
- ``GET|PUT /api/rest/v6/agreements/{id}/me/note`` the API user's private note
- ``POST /api/rest/v6/webhooks`` register a webhook (after the echo check, below)

Notifications carry ``X-ADOBESIGN-CLIENTID``; a delivery counts only when the answer is 2xx and
echoes that id (header ``X-AdobeSign-ClientId`` or body ``xAdobeSignClientId``). Registering a
webhook first sends a GET with the header and requires the same echo, as Adobe does.
``webhookNotificationId`` is fixed when the event happens, so every retry repeats it.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Sequence
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
    RouteSpec,
    SignerInput,
    Transition,
    VendorEmulator,
    app_factory,
    iso,
    read_json,
)
from inkbridge_emulators.faults import Chaos
from inkbridge_emulators.process import serve_provider

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


def _member_status(envelope: BookEnvelope, signer: BookSigner) -> str:
    if signer.signed_at is not None:
        return "COMPLETED"
    if envelope.status in {"declined", "voided"}:
        return "CANCELLED"
    if envelope.status == "expired":
        return "EXPIRED"
    current = envelope.signer(None)
    return "WAITING_FOR_MY_SIGNATURE" if current is signer else "NOT_YET_VISIBLE"


class _Endpoints:
    def __init__(self, emulator: AcrobatSignEmulator) -> None:
        self.e = emulator

    async def refresh(self, request: Request) -> Response:
        form = await request.form()
        try:
            answer = self.e.issue_token({k: str(v) for k, v in form.items()})
        except EmulatorRefusal as refusal:
            return JSONResponse(
                {"error": refusal.code, "error_description": refusal.message},
                status_code=refusal.status,
            )
        return JSONResponse(answer)

    async def create_agreement(self, request: Request) -> Response:
        self.e.authorize(request)
        body = await read_json(request)
        envelope = self.e.book.create(**_agreement_input(body))
        transition = self.e.book.send(envelope.id)
        self.e.publish(transition)
        return JSONResponse({"id": envelope.id}, status_code=201)

    async def get_agreement(self, request: Request) -> Response:
        self.e.authorize(request)
        envelope = self.e.book.get(request.path_params["agreement_id"])
        return JSONResponse(self.e.agreement(envelope))

    async def events(self, request: Request) -> Response:
        self.e.authorize(request)
        envelope = self.e.book.get(request.path_params["agreement_id"])
        return JSONResponse({"events": envelope.extra.get("events", [])})

    async def signing_urls(self, request: Request) -> Response:
        self.e.authorize(request)
        envelope = self.e.book.get(request.path_params["agreement_id"])
        current = envelope.signer(None) if envelope.status == "sent" else None
        if current is None:
            raise EmulatorRefusal(
                404,
                "AGREEMENT_NOT_SIGNABLE",
                "The agreement is not currently waiting for anyone to sign it.",
            )
        url = f"{self.e.public_url}/public/apiesign?pid={current.token}"
        return JSONResponse(
            {"signingUrlSetInfos": [{"signingUrls": [{"email": current.email, "esignUrl": url}]}]}
        )

    async def note(self, request: Request) -> Response:
        self.e.authorize(request)
        envelope = self.e.book.get(request.path_params["agreement_id"])
        if request.method == "PUT":
            body = await read_json(request)
            value = body.get("value") if isinstance(body, dict) else None
            if not isinstance(value, str):
                raise EmulatorRefusal(400, "INVALID_ARGUMENTS", "value must be a string")
            envelope.extra["note"] = value
            return Response(status_code=204)
        return JSONResponse({"value": envelope.extra.get("note", "")})

    async def create_webhook(self, request: Request) -> Response:
        self.e.authorize(request)
        body = await read_json(request)
        url = (body.get("webhookUrlInfo") or {}).get("url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url:
            raise EmulatorRefusal(400, "MISSING_REQUIRED_PARAM", "webhookUrlInfo.url")
        webhook_id = await self.e.register_webhook(url)
        self.e.webhook_name = str(body.get("name") or self.e.webhook_name)
        return JSONResponse({"id": webhook_id}, status_code=201)


def _agreement_input(body: Any) -> dict[str, Any]:
    """The book's create arguments from an AgreementInfo; refusals name the missing field."""
    if not isinstance(body, dict):
        raise EmulatorRefusal(400, "INVALID_JSON", "body must be an object")
    files = body.get("fileInfos")
    library_id = files[0].get("libraryDocumentId") if isinstance(files, list) and files else None
    if not isinstance(library_id, str) or not library_id:
        raise EmulatorRefusal(400, "MISSING_REQUIRED_PARAM", "fileInfos[0].libraryDocumentId")
    if body.get("signatureType") != "ESIGN":
        raise EmulatorRefusal(400, "INVALID_SIGNATURE_TYPE", "signatureType must be ESIGN")
    if body.get("state") != "IN_PROCESS":
        raise EmulatorRefusal(400, "INVALID_STATE", "only state IN_PROCESS is emulated")
    if not isinstance(body.get("name"), str) or not body["name"]:
        raise EmulatorRefusal(400, "MISSING_REQUIRED_PARAM", "name")
    signers: list[tuple[int, SignerInput]] = []
    for item in body.get("participantSetsInfo") or []:
        members = item.get("memberInfos") if isinstance(item, dict) else None
        member = members[0] if isinstance(members, list) and members else None
        email = member.get("email") if isinstance(member, dict) else None
        if not isinstance(email, str) or "@" not in email or item.get("role") != "SIGNER":
            raise EmulatorRefusal(400, "INVALID_PARTICIPANT", "each set needs a SIGNER email")
        name = str(member.get("name") or email) if isinstance(member, dict) else email
        signers.append((int(item.get("order") or 1), SignerInput(email=email, name=name)))
    external = body.get("externalId")
    merge = body.get("mergeFieldInfo") or []
    return {
        "title": body["name"],
        "template_id": library_id,
        "signers": [s for _, s in sorted(signers, key=lambda pair: pair[0])],
        "external_id": external.get("id") if isinstance(external, dict) else None,
        "merge_fields": {
            str(m.get("fieldName")): str(m.get("defaultValue"))
            for m in merge
            if isinstance(m, dict)
        },
    }


def _routes(emulator: AcrobatSignEmulator) -> list[RouteSpec]:
    ep = _Endpoints(emulator)
    base = "/api/rest/v6/agreements/{agreement_id}"
    return [
        ("/oauth/v2/refresh", ep.refresh, ["POST"]),
        ("/api/rest/v6/agreements", ep.create_agreement, ["POST"]),
        (base, ep.get_agreement, ["GET"]),
        (base + "/events", ep.events, ["GET"]),
        (base + "/signingUrls", ep.signing_urls, ["GET"]),
        (base + "/me/note", ep.note, ["GET", "PUT"]),
        ("/api/rest/v6/webhooks", ep.create_webhook, ["POST"]),
    ]


# The emulator as an ASGI app; its ``AcrobatSignEmulator`` is ``app.state.emulator``.
create_acrobat_sign_emulator = app_factory(AcrobatSignEmulator, _routes)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m inkbridge_emulators.acrobat_sign --webhook-url URL [--port N]``."""
    serve_provider(
        create_acrobat_sign_emulator,
        vendor="Acrobat Sign",
        default_port=8122,
        webhook_option="webhook_url",
        credentials={
            "client_id": "acrobat-dev-client",
            "client_secret": "acrobat-dev-secret",
            "refresh_token": "acrobat-dev-refresh",
        },
        argv=argv,
    )


if __name__ == "__main__":
    main()
