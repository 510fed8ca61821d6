"""A Documenso emulator: the slice of API v2 that ``DocumensoClient`` uses, and webhooks in
Documenso's format.

API under ``/api/v2`` (``Authorization: <api token>``, a ``Bearer`` prefix tolerated; errors as
``{"message", "code"}``):

- ``GET /envelope/{id}`` a document envelope, or a template envelope with its recipient slots
  (templates are provisioned on first sight, each with ``template_recipients`` slots)
- ``POST /envelope/use`` (multipart, JSON in the ``payload`` field) create a document from a
  template, with ``externalId`` and optionally distributed at once
- ``GET /envelope/item/{item id}/download?version=signed|original`` an envelope item's PDF (a
  document envelope lists its one item in ``envelopeItems``)

Webhooks: ``{event, payload, createdAt, webhookEndpoint}`` with the whole document (recipients
included) in ``payload``; header ``X-Documenso-Secret`` carries the secret in plain text. The
top-level ``createdAt`` is recomputed on every attempt, as Documenso does, so it must never key
deduplication; ``delivery_ids=True`` adds the stable ``X-Documenso-Delivery-Id`` newer builds
send. Documenso expires recipients, not documents: expiry is ``RECIPIENT_EXPIRED`` and the
document stays ``PENDING``.
"""

from __future__ import annotations

import itertools
import json
import secrets
import uuid
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
)
from inkbridge_emulators.documents import pdf_response, signed_pdf
from inkbridge_emulators.faults import Chaos
from inkbridge_emulators.process import ProviderProcess

STATUSES = {
    "created": "DRAFT",
    "sent": "PENDING",
    "completed": "COMPLETED",
    "declined": "REJECTED",
    "voided": "CANCELLED",
    "expired": "PENDING",
}
EVENTS = {
    "sent": "DOCUMENT_SENT",
    "view": "DOCUMENT_OPENED",
    "sign": "DOCUMENT_SIGNED",
    "decline": "DOCUMENT_REJECTED",
    "void": "DOCUMENT_CANCELLED",
    "expire": "RECIPIENT_EXPIRED",
}

# Credentials of a process run (``--<name>`` overrides): the emulator is for tests and local runs.
DEV_CREDENTIALS = {"api_token": "documenso-dev-token", "webhook_secret": "documenso-dev-secret"}


class DocumensoEmulator(VendorEmulator):
    """Documenso's state: templates, document envelopes and the webhook secret."""

    def __init__(
        self,
        *,
        webhook_url: str,
        api_token: str,
        webhook_secret: str,
        chaos: Chaos | None = None,
        client: httpx.AsyncClient | None = None,
        public_url: str = "https://documenso-emulator.test",
        template_recipients: int = 3,
        delivery_ids: bool = False,
    ) -> None:
        numbers = itertools.count(101)  # Documenso's recipient ids are integers
        super().__init__(
            webhook_url=webhook_url,
            book=EnvelopeBook(
                lambda: "envelope_" + secrets.token_hex(8), lambda: str(next(numbers))
            ),
            chaos=chaos,
            client=client,
        )
        self._numbers = numbers
        self._legacy_ids = itertools.count(1)
        self._api_token = api_token
        self._secret = webhook_secret
        self.public_url = public_url.rstrip("/")
        self.template_recipients = template_recipients
        self.delivery_ids = delivery_ids
        self.templates: dict[str, list[int]] = {}

    def render_error(self, refusal: EmulatorRefusal) -> Response:
        return JSONResponse(
            {"message": refusal.message, "code": refusal.code}, status_code=refusal.status
        )

    def authorize(self, request: Request) -> None:
        offered = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not secrets.compare_digest(offered.encode(), self._api_token.encode()):
            raise EmulatorRefusal(401, "UNAUTHORIZED", "Invalid API token")

    def template(self, template_id: str) -> list[int]:
        """A template's recipient slot ids, provisioning the template on first sight."""
        if template_id not in self.templates:
            self.templates[template_id] = [
                next(self._numbers) for _ in range(self.template_recipients)
            ]
        return self.templates[template_id]

    def use_template(self, payload: Any) -> tuple[BookEnvelope, bool]:
        """Create a document from ``POST /envelope/use``'s payload; (envelope, distribute)."""
        if not isinstance(payload, dict):
            raise EmulatorRefusal(400, "BAD_REQUEST", "payload must be a JSON object")
        template_id = payload.get("envelopeId")
        if not isinstance(template_id, str) or template_id in self.book.envelopes:
            raise EmulatorRefusal(404, "NOT_FOUND", "Template not found")
        slots = self.template(template_id)
        signers: list[SignerInput] = []
        for item in payload.get("recipients") or []:
            if not isinstance(item, dict) or item.get("id") not in slots:
                raise EmulatorRefusal(400, "BAD_REQUEST", "recipients[].id is not in the template")
            email = item.get("email")
            if not isinstance(email, str) or "@" not in email:
                raise EmulatorRefusal(400, "BAD_REQUEST", "recipients[].email is required")
            signers.append(SignerInput(email=email, name=str(item.get("name") or "")))
        override = payload.get("override")
        if not isinstance(override, dict):
            override = {}
        external = payload.get("externalId")
        envelope = self.book.create(
            title=str(override.get("title") or "Document"),
            template_id=template_id,
            signers=signers,
            external_id=external if isinstance(external, str) else None,
        )
        envelope.extra["legacy_id"] = next(self._legacy_ids)
        envelope.extra["item_id"] = "envelope_item_" + secrets.token_hex(8)
        envelope.extra["distribution"] = str(override.get("distributionMethod") or "EMAIL")
        self._emit("DOCUMENT_CREATED", envelope)
        return envelope, bool(payload.get("distributeDocument"))

    def recipient(self, envelope: BookEnvelope, signer: BookSigner) -> dict[str, Any]:
        rejected = signer.declined_at is not None
        return {
            "id": int(signer.id),
            "envelopeId": envelope.id,
            "documentId": envelope.extra.get("legacy_id"),
            "templateId": None,
            "email": signer.email,
            "name": signer.name,
            "token": signer.token,
            "documentDeletedAt": None,
            "expired": iso(signer.expired_at),
            "expiresAt": iso(signer.expired_at),
            "signedAt": iso(signer.signed_at),
            "authOptions": None,
            "signingOrder": signer.order,
            "rejectionReason": "Declined in the emulator" if rejected else None,
            "role": "SIGNER",
            "readStatus": "OPENED" if signer.viewed_at else "NOT_OPENED",
            "signingStatus": "REJECTED" if rejected else "SIGNED" if signer.done else "NOT_SIGNED",
            "sendStatus": "SENT" if envelope.sent_at else "NOT_SENT",
        }

    def document(self, envelope: BookEnvelope) -> dict[str, Any]:
        """The envelope as ``GET /envelope/{id}`` and the webhook ``payload`` show it."""
        return {
            "id": envelope.id,
            "type": "DOCUMENT",
            "status": STATUSES[envelope.status],
            "externalId": envelope.external_id,
            "title": envelope.title,
            "source": "TEMPLATE",
            "visibility": "EVERYONE",
            "createdAt": iso(envelope.created_at),
            "updatedAt": iso(envelope.updated_at),
            "completedAt": iso(envelope.completed_at or _cancelled_at(envelope)),
            "deletedAt": None,
            "documentMeta": {
                "subject": None,
                "message": None,
                "timezone": "Etc/UTC",
                "dateFormat": "yyyy-MM-dd hh:mm a",
                "redirectUrl": None,
                "signingOrder": "PARALLEL",
                "distributionMethod": envelope.extra.get("distribution", "EMAIL"),
                "language": "en",
            },
            "recipients": [self.recipient(envelope, s) for s in envelope.signers],
        }

    def template_view(self, template_id: str) -> dict[str, Any]:
        slots = self.template(template_id)
        return {
            "id": template_id,
            "type": "TEMPLATE",
            "status": "DRAFT",
            "title": "Template",
            "externalId": None,
            "recipients": [
                {
                    "id": slot,
                    "email": "",
                    "name": "",
                    "role": "SIGNER",
                    "signingOrder": n + 1,
                    "token": "",
                }
                for n, slot in enumerate(slots)
            ],
        }

    def publish(self, transition: Transition) -> None:
        self._emit(EVENTS[transition.action], transition.envelope)
        if transition.completed:
            self._emit("DOCUMENT_COMPLETED", transition.envelope)

    def _emit(self, event: str, envelope: BookEnvelope) -> None:
        # The document is captured now; only the top-level createdAt changes between attempts.
        payload = self.document(envelope)
        payload["id"] = envelope.extra.get("legacy_id")  # webhooks keep the legacy numeric id
        payload["envelopeId"] = envelope.id
        url = self.webhook_url
        headers = {"Content-Type": "application/json", "X-Documenso-Secret": self._secret}
        if self.delivery_ids:
            headers["X-Documenso-Delivery-Id"] = str(uuid.uuid4())

        def build() -> tuple[str, dict[str, str], bytes]:
            body = {
                "event": event,
                "payload": payload,
                "createdAt": iso(self.book.now()),
                "webhookEndpoint": url,
            }
            return url, headers, json.dumps(body).encode()

        self.emitter.emit(build)


def _cancelled_at(envelope: BookEnvelope) -> Any:
    # Documenso stamps completedAt when it cancels a document, too.
    return envelope.ended_at if envelope.status == "voided" else None


class _Endpoints:
    def __init__(self, emulator: DocumensoEmulator) -> None:
        self.e = emulator

    async def find_envelopes(self, request: Request) -> Response:
        """``GET /envelope``: the team's envelopes, a page at a time (``page``, ``perPage``)."""
        self.e.authorize(request)
        page, per_page = _page_number(request, "page", 1), _page_number(request, "perPage", 10)
        found = list(self.e.book.envelopes.values())
        shown = found[(page - 1) * per_page : page * per_page]
        return JSONResponse(
            {
                "data": [self.e.document(envelope) for envelope in shown],
                "count": len(found),
                "currentPage": page,
                "perPage": per_page,
                "totalPages": -(-len(found) // per_page),
            }
        )

    async def get_envelope(self, request: Request) -> Response:
        envelope_id = request.path_params["envelope_id"]
        self.e.authorize(request)
        envelope = self.e.book.envelopes.get(envelope_id)
        if envelope is None:
            return JSONResponse(self.e.template_view(envelope_id))
        item = {"id": envelope.extra["item_id"], "title": envelope.title, "order": 1}
        return JSONResponse({**self.e.document(envelope), "envelopeItems": [item]})

    async def download_item(self, request: Request) -> Response:
        self.e.authorize(request)
        item_id = request.path_params["item_id"]
        if request.query_params.get("version", "signed") not in {"signed", "original"}:
            raise EmulatorRefusal(400, "BAD_REQUEST", "version must be signed or original")
        for envelope in self.e.book.envelopes.values():
            if envelope.extra.get("item_id") == item_id:
                return pdf_response(signed_pdf(envelope.id, envelope.title, "Documenso"))
        raise EmulatorRefusal(404, "NOT_FOUND", "Envelope item not found")

    async def use(self, request: Request) -> Response:
        self.e.authorize(request)
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise EmulatorRefusal(400, "BAD_REQUEST", "expected multipart/form-data")
        form = await request.form()
        raw = form.get("payload")
        try:
            payload = json.loads(raw) if isinstance(raw, str) else None
        except ValueError:
            payload = None
        envelope, distribute = self.e.use_template(payload)
        transition = self.e.book.send(envelope.id) if distribute else None
        if transition is not None:
            self.e.publish(transition)
        return JSONResponse(
            {
                "id": envelope.id,
                "recipients": [
                    {
                        "id": int(s.id),
                        "name": s.name,
                        "email": s.email,
                        "token": s.token,
                        "role": "SIGNER",
                        "signingOrder": s.order,
                        "signingUrl": f"{self.e.public_url}/sign/{s.token}",
                    }
                    for s in envelope.signers
                ],
            }
        )


def _page_number(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name, str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= 100:
        raise EmulatorRefusal(400, "BAD_REQUEST", f"{name} must be a number from 1 to 100")
    return int(raw)


def _routes(emulator: DocumensoEmulator) -> list[RouteSpec]:
    ep = _Endpoints(emulator)
    return [
        ("/api/v2/envelope", ep.find_envelopes, ["GET"]),
        ("/api/v2/envelope/use", ep.use, ["POST"]),
        ("/api/v2/envelope/{envelope_id}", ep.get_envelope, ["GET"]),
        ("/api/v2/envelope/item/{item_id}/download", ep.download_item, ["GET"]),
    ]


# The emulator as an ASGI app; its ``DocumensoEmulator`` is ``app.state.emulator``.
create_documenso_emulator = app_factory(DocumensoEmulator, _routes)


# ``python -m inkbridge_emulators.documenso --webhook-url URL [--port N]``
PROCESS = ProviderProcess(
    create_documenso_emulator, "Documenso", 8124, "webhook_url", DEV_CREDENTIALS
)

if __name__ == "__main__":
    PROCESS.main()
