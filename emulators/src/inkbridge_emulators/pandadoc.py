"""A PandaDoc emulator: the slice of the public API v1 that ``PandaDocClient`` uses, and webhooks
in PandaDoc's format.

API under ``/public/v1`` (``Authorization: API-Key <key>``; errors as ``{"type", "detail"}``):

- ``POST /documents`` create from a template: answers ``document.uploaded`` at once and turns
  ``document.draft`` on a later status read, as PandaDoc's asynchronous creation does
- ``GET /documents?metadata_<key>=<value>`` list by metadata; ``GET /documents/{id}`` status
- ``POST /documents/{id}/send`` (draft only); ``POST /documents/{id}/session`` (sent or later)
- ``GET /documents/{id}/download`` the document as a PDF (once it is past draft)

Webhooks: a JSON array of ``{event, data}`` per POST, notifications that happen together in one
POST (a last signature sends ``recipient_completed`` and the ``document.completed`` state change
at once); ``?signature=`` carries hex HMAC-SHA256(shared key, raw body); header
``X-PandaDoc-Webhook-Event-Id`` names the POST and repeats on retries (``event_ids=False``
leaves it out, as accounts without the option see). Expiry is the status ``document.voided`` and
a sender's cancellation ``document.cancelled``.
"""

from __future__ import annotations

import hmac
import json
import secrets
import uuid
from datetime import timedelta
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from inkbridge.vendor_http.vendor_signatures import pandadoc_signature
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
from inkbridge_emulators.documents import pdf_response, signed_pdf
from inkbridge_emulators.faults import Chaos
from inkbridge_emulators.process import ProviderProcess

STATE_CHANGED = "document_state_changed"
STATUSES = {
    "completed": "document.completed",
    "declined": "document.declined",
    "voided": "document.cancelled",
    "expired": "document.voided",  # PandaDoc's name for an expired document
}
SESSION_STATUSES = frozenset({"document.sent", "document.viewed", "document.completed"})
SENDER = {
    "id": "emulatorSender01",
    "email": "sender@pandadoc-emulator.test",
    "first_name": "Inkbridge",
    "last_name": "Sender",
}

# Credentials of a process run (``--<name>`` overrides): the emulator is for tests and local runs.
DEV_CREDENTIALS = {"api_key": "pandadoc-dev-key", "shared_key": "pandadoc-dev-shared-key"}


def _pandadoc_id() -> str:
    return secrets.token_urlsafe(16)[:22]


class PandaDocEmulator(VendorEmulator):
    """PandaDoc's state: documents (with their processing delay) and the webhook settings.

    ``draft_after_reads``: how many status reads a new document stays ``document.uploaded``
    for (1: the first read already sees ``document.draft``).
    """

    def __init__(
        self,
        *,
        webhook_url: str,
        api_key: str,
        shared_key: str,
        chaos: Chaos | None = None,
        client: httpx.AsyncClient | None = None,
        draft_after_reads: int = 1,
        event_ids: bool = True,
    ) -> None:
        super().__init__(
            webhook_url=webhook_url,
            book=EnvelopeBook(_pandadoc_id, _pandadoc_id),
            chaos=chaos,
            client=client,
        )
        self._api_key = api_key
        self._shared_key = shared_key
        self.draft_after_reads = draft_after_reads
        self.event_ids = event_ids
        self.sessions: dict[str, tuple[str, str]] = {}  # session id -> (document id, email)

    def render_error(self, refusal: EmulatorRefusal) -> Response:
        return JSONResponse(
            {"type": refusal.code, "detail": refusal.message}, status_code=refusal.status
        )

    def authorize(self, request: Request) -> None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme != "API-Key" or not hmac.compare_digest(key.encode(), self._api_key.encode()):
            raise EmulatorRefusal(
                401, "authentication_error", "Authentication credentials were not provided."
            )

    def status(self, envelope: BookEnvelope) -> str:
        if envelope.status == "created":
            return "document.draft" if envelope.extra.get("draft") else "document.uploaded"
        if envelope.status == "sent":
            viewed = any(s.viewed_at for s in envelope.signers)
            return "document.viewed" if viewed else "document.sent"
        return STATUSES[envelope.status]

    def read(self, envelope: BookEnvelope) -> None:
        """Count a status read; the read that ends processing turns the document into a draft."""
        if envelope.status != "created" or envelope.extra.get("draft"):
            return
        envelope.extra["reads"] = envelope.extra.get("reads", 0) + 1
        if envelope.extra["reads"] >= self.draft_after_reads:
            envelope.extra["draft"] = True
            envelope.updated_at = self.book.now()
            self._post([self._notification(STATE_CHANGED, envelope)])

    def summary(self, envelope: BookEnvelope) -> dict[str, Any]:
        return {
            "id": envelope.id,
            "uuid": envelope.id,
            "name": envelope.title,
            "status": self.status(envelope),
            "date_created": iso(envelope.created_at),
            "date_modified": iso(envelope.updated_at),
            "expiration_date": None,
            "version": "2",
        }

    def details(self, envelope: BookEnvelope) -> dict[str, Any]:
        return {
            **self.summary(envelope),
            "autonumbering_sequence_name": None,
            "created_by": SENDER,
            "sent_by": SENDER if envelope.sent_at else None,
            "metadata": dict(envelope.metadata),
            "tags": ["created_via_api"],
            "recipients": [_recipient(s) for s in envelope.signers],
            "tokens": [{"name": k, "value": v} for k, v in envelope.merge_fields.items()],
            "template": {"id": envelope.template_id, "name": envelope.title},
            "grand_total": {"amount": "0.00", "currency": "EUR"},
            "linked_objects": [],
        }

    def publish(self, transition: Transition) -> None:
        envelope, signer = transition.envelope, transition.signer
        batch: list[dict[str, Any]] = []
        if transition.action == "sign" and signer is not None:
            completed = self._notification("recipient_completed", envelope)
            completed["data"]["action_by"] = {
                "id": signer.id,
                "email": signer.email,
                **_names(signer.name),
            }
            completed["data"]["action_date"] = iso(transition.at)
            batch.append(completed)
            if transition.completed:
                batch.append(self._notification(STATE_CHANGED, envelope))
        elif transition.action == "view":
            first_view = sum(1 for s in envelope.signers if s.viewed_at) == 1
            if first_view and signer is not None and signer.viewed_at == transition.at:
                batch.append(self._notification(STATE_CHANGED, envelope))
        else:
            batch.append(self._notification(STATE_CHANGED, envelope))
        if batch:
            self._post(batch)

    def _notification(self, event: str, envelope: BookEnvelope) -> dict[str, Any]:
        return {"event": event, "data": self.details(envelope)}

    def _post(self, batch: list[dict[str, Any]]) -> None:
        body = json.dumps(batch).encode()
        signature = pandadoc_signature(self._shared_key, body)
        joiner = "&" if "?" in self.webhook_url else "?"
        url = f"{self.webhook_url}{joiner}signature={signature}"
        headers = {"Content-Type": "application/json"}
        if self.event_ids:
            headers["X-PandaDoc-Webhook-Event-Id"] = str(uuid.uuid4())
        self.emitter.emit(lambda: (url, headers, body))


def _names(name: str) -> dict[str, str]:
    first, _, last = name.strip().partition(" ")
    return {"first_name": first, "last_name": last}


def _recipient(signer: BookSigner) -> dict[str, Any]:
    return {
        "type": "recipient",
        "id": signer.id,
        "email": signer.email,
        **_names(signer.name),
        "phone": "",
        "recipient_type": "signer",
        "has_completed": signer.done,
        "role": signer.role,
        "roles": [signer.role] if signer.role else [],
        "signing_order": None,
        "contact_id": signer.id,
        "shared_link": "",
    }


def _document_input(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise EmulatorRefusal(400, "request_error", "body must be an object")
    template = body.get("template_uuid")
    if not isinstance(template, str) or not template:
        raise EmulatorRefusal(400, "request_error", "template_uuid: This field is required.")
    signers: list[SignerInput] = []
    for item in body.get("recipients") or []:
        email = item.get("email") if isinstance(item, dict) else None
        if not isinstance(email, str) or "@" not in email:
            raise EmulatorRefusal(400, "request_error", "recipients: email is required")
        name = f"{item.get('first_name') or ''} {item.get('last_name') or ''}".strip() or email
        signers.append(SignerInput(email=email, name=name, role=str(item.get("role") or "")))
    metadata = body.get("metadata") or {}
    tokens = body.get("tokens") or []
    if not isinstance(metadata, dict) or not isinstance(tokens, list):
        raise EmulatorRefusal(400, "request_error", "metadata must be an object, tokens a list")
    return {
        "title": str(body.get("name") or "Untitled"),
        "template_id": template,
        "signers": signers,
        "metadata": {str(k): str(v) for k, v in metadata.items()},
        "merge_fields": {
            str(t.get("name")): str(t.get("value")) for t in tokens if isinstance(t, dict)
        },
    }


class _Endpoints:
    def __init__(self, emulator: PandaDocEmulator) -> None:
        self.e = emulator

    async def current_member(self, request: Request) -> Response:
        """``GET /members/current``: the workspace member the API key belongs to."""
        self.e.authorize(request)
        return JSONResponse(
            {
                "user_id": "UqAjVWMSQmaUuDbYqmVPdn",
                "membership_id": "jWkxABgRZxfUzSPKCr6uYn",
                "email": "api@inkbridge.example",
                "first_name": "inkbridge",
                "last_name": "emulator",
                "is_active": True,
                "workspace": "3QbZxeMgGLMWq6L8T6ShWo",
                "workspace_name": "inkbridge emulator",
                "role": "Admin",
            }
        )

    async def create(self, request: Request) -> Response:
        self.e.authorize(request)
        envelope = self.e.book.create(**_document_input(await read_json(request)))
        return JSONResponse(self.e.summary(envelope), status_code=201)

    async def list_documents(self, request: Request) -> Response:
        self.e.authorize(request)
        wanted = {
            key.removeprefix("metadata_"): value
            for key, value in request.query_params.items()
            if key.startswith("metadata_")
        }
        found = [
            self.e.summary(env)
            for env in self.e.book.envelopes.values()
            if all(env.metadata.get(k) == v for k, v in wanted.items())
        ]
        return JSONResponse({"results": found})

    async def status(self, request: Request) -> Response:
        self.e.authorize(request)
        envelope = self.e.book.get(request.path_params["document_id"])
        self.e.read(envelope)
        return JSONResponse(self.e.summary(envelope))

    async def download(self, request: Request) -> Response:
        self.e.authorize(request)
        envelope = self.e.book.get(request.path_params["document_id"])
        if envelope.status == "created":
            raise EmulatorRefusal(409, "request_error", "Document is still being processed")
        return pdf_response(signed_pdf(envelope.id, envelope.title, "PandaDoc"))

    async def send(self, request: Request) -> Response:
        self.e.authorize(request)
        envelope = self.e.book.get(request.path_params["document_id"])
        await read_json(request)
        if self.e.status(envelope) != "document.draft":
            raise EmulatorRefusal(
                400, "request_error", "Document must be in document.draft status to be sent"
            )
        transition = self.e.book.send(envelope.id)
        self.e.publish(transition)
        return JSONResponse(self.e.summary(envelope))

    async def session(self, request: Request) -> Response:
        self.e.authorize(request)
        envelope = self.e.book.get(request.path_params["document_id"])
        body = await read_json(request)
        email = body.get("recipient") if isinstance(body, dict) else None
        if self.e.status(envelope) not in SESSION_STATUSES:
            raise EmulatorRefusal(400, "request_error", "Document must be sent first")
        if not isinstance(email, str) or envelope.signer(email) is None:
            raise EmulatorRefusal(400, "request_error", "recipient is not on this document")
        session_id = _pandadoc_id()
        self.e.sessions[session_id] = (envelope.id, email)
        lifetime = int(body.get("lifetime") or 3600)
        expires = iso(self.e.book.now() + timedelta(seconds=lifetime))
        return JSONResponse({"id": session_id, "expires_at": expires}, status_code=201)


def _routes(emulator: PandaDocEmulator) -> list[RouteSpec]:
    ep = _Endpoints(emulator)
    return [
        ("/public/v1/members/current", ep.current_member, ["GET"]),
        ("/public/v1/documents", ep.create, ["POST"]),
        ("/public/v1/documents", ep.list_documents, ["GET"]),
        ("/public/v1/documents/{document_id}", ep.status, ["GET"]),
        ("/public/v1/documents/{document_id}/send", ep.send, ["POST"]),
        ("/public/v1/documents/{document_id}/download", ep.download, ["GET"]),
        ("/public/v1/documents/{document_id}/session", ep.session, ["POST"]),
    ]


# The emulator as an ASGI app; its ``PandaDocEmulator`` is ``app.state.emulator``.
create_pandadoc_emulator = app_factory(PandaDocEmulator, _routes)


# ``python -m inkbridge_emulators.pandadoc --webhook-url URL [--port N]``
PROCESS = ProviderProcess(
    create_pandadoc_emulator, "PandaDoc", 8123, "webhook_url", DEV_CREDENTIALS
)

if __name__ == "__main__":
    PROCESS.main()
