"""A DocuSeal emulator: the slice of the API that ``DocuSealClient`` uses, and webhooks in
DocuSeal's format.

API (``X-Auth-Token``; errors as ``{"error"}``):

- ``POST /submissions`` create from a template; answers the submitters, each with ``embed_src``
- ``GET /submissions/{id}`` the submission with submitters and ``submission_events``
- ``GET /submitters?external_id=…`` and ``GET /submitters/{id}``
- ``GET /submissions/{id}/documents`` the documents' file URLs (``merge=true``: one merged
  PDF); like DocuSeal's storage links they need no token, and each redirects to the file

Webhooks: ``{event_type, timestamp, data}``. ``timestamp`` is when the event happened and stays
the same on every retry; ``X-Docuseal-Signature: <unix_ts>.<hex HMAC-SHA256(secret, "<unix_ts>.
<raw body>")>`` is computed again for each attempt with the time of that attempt, the secret
used as is (UTF-8), as DocuSeal does. ``form.*`` events carry a submitter in ``data``,
``submission.*`` events the submission. Voiding is archiving (``submission.archived``).
"""

from __future__ import annotations

import hmac
import itertools
import json
import secrets
import time
import uuid
from typing import Any

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from inkbridge.vendor_http.vendor_signatures import docuseal_signature
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

STATUSES = {
    "created": "pending",
    "sent": "pending",
    "completed": "completed",
    "declined": "declined",
    "voided": "pending",  # archiving keeps the status and sets archived_at
    "expired": "expired",
}
# Transition action -> (webhook event, submission_events type).
EVENTS = {
    "view": ("form.viewed", "view_form"),
    "sign": ("form.completed", "complete_form"),
    "decline": ("form.declined", "decline_form"),
    "void": ("submission.archived", None),
    "expire": ("submission.expired", None),
}

# Credentials of a process run (``--<name>`` overrides): the emulator is for tests and local runs.
DEV_CREDENTIALS = {"api_token": "docuseal-dev-token", "webhook_secret": "docuseal-dev-secret"}


class DocuSealEmulator(VendorEmulator):
    """DocuSeal's state: submissions with their submitters, and the webhook secret."""

    def __init__(
        self,
        *,
        webhook_url: str,
        api_token: str,
        webhook_secret: str,
        chaos: Chaos | None = None,
        client: httpx.AsyncClient | None = None,
        public_url: str = "https://docuseal-emulator.test",
    ) -> None:
        submissions, submitters = itertools.count(1), itertools.count(1)
        super().__init__(
            webhook_url=webhook_url,
            book=EnvelopeBook(lambda: str(next(submissions)), lambda: str(next(submitters))),
            chaos=chaos,
            client=client,
        )
        self._api_token = api_token
        self._secret = webhook_secret
        self.public_url = public_url.rstrip("/")

    def render_error(self, refusal: EmulatorRefusal) -> Response:
        return JSONResponse({"error": refusal.message}, status_code=refusal.status)

    def authorize(self, request: Request) -> None:
        offered = request.headers.get("x-auth-token", "")
        if not hmac.compare_digest(offered.encode(), self._api_token.encode()):
            raise EmulatorRefusal(401, "unauthorized", "Not authenticated")

    def submitter(self, envelope: BookEnvelope, signer: BookSigner) -> dict[str, Any]:
        extra = envelope.extra["submitters"][signer.id]
        status = (
            "completed"
            if signer.done
            else "declined"
            if signer.declined_at
            else "opened"
            if signer.viewed_at
            else "sent"
        )
        return {
            "id": int(signer.id),
            "submission_id": int(envelope.id),
            "uuid": extra["uuid"],
            "email": signer.email,
            "name": signer.name,
            "phone": None,
            "slug": signer.token,
            "role": signer.role or f"Party {signer.order}",
            "external_id": extra["external_id"],
            "metadata": extra["metadata"],
            "values": [{"field": k, "value": v} for k, v in extra["values"].items()],
            "preferences": {"send_email": envelope.extra["send_email"]},
            "status": status,
            "sent_at": iso(envelope.sent_at),
            "opened_at": iso(signer.viewed_at),
            "completed_at": iso(signer.signed_at),
            "declined_at": iso(signer.declined_at),
            "decline_reason": "Declined in the emulator" if signer.declined_at else None,
            "created_at": iso(envelope.created_at),
            "updated_at": iso(envelope.updated_at),
            "embed_src": f"{self.public_url}/s/{signer.token}",
        }

    def submission(self, envelope: BookEnvelope) -> dict[str, Any]:
        return {
            "id": int(envelope.id),
            "source": "api",
            "submitters_order": "preserved",
            "slug": envelope.extra["slug"],
            "status": STATUSES[envelope.status],
            "audit_log_url": None,
            "combined_document_url": None,
            "completed_at": iso(envelope.completed_at),
            "expire_at": iso(envelope.ended_at) if envelope.status == "expired" else None,
            "created_at": iso(envelope.created_at),
            "updated_at": iso(envelope.updated_at),
            "archived_at": iso(envelope.ended_at) if envelope.status == "voided" else None,
            "submitters": [self.submitter(envelope, s) for s in envelope.signers],
            "template": {
                "id": envelope.template_id,
                "name": envelope.title,
                "external_id": None,
                "folder_name": "Default",
            },
            "submission_events": envelope.extra["events"],
            "documents": [],
        }

    def create_submission(self, body: Any) -> BookEnvelope:
        if not isinstance(body, dict) or body.get("template_id") in (None, ""):
            raise EmulatorRefusal(422, "invalid", "template_id is required")
        signers: list[SignerInput] = []
        details: list[dict[str, Any]] = []
        for item in body.get("submitters") or []:
            email = item.get("email") if isinstance(item, dict) else None
            if not isinstance(email, str) or "@" not in email:
                raise EmulatorRefusal(422, "invalid", "submitters[].email is required")
            signers.append(
                SignerInput(email, str(item.get("name") or ""), str(item.get("role") or ""))
            )
            metadata, values = item.get("metadata") or {}, item.get("values") or {}
            if not isinstance(metadata, dict) or not isinstance(values, dict):
                raise EmulatorRefusal(422, "invalid", "metadata and values must be objects")
            details.append(
                {
                    "uuid": str(uuid.uuid4()),
                    "external_id": item.get("external_id"),
                    "metadata": metadata,
                    "values": values,
                }
            )
        envelope = self.book.create(
            title=f"Template {body['template_id']}",
            template_id=str(body["template_id"]),
            signers=signers,
        )
        envelope.extra.update(
            slug=uuid.uuid4().hex[:14],
            send_email=bool(body.get("send_email", True)),
            events=[],
            submitters={s.id: d for s, d in zip(envelope.signers, details, strict=True)},
        )
        return envelope

    def publish(self, transition: Transition) -> None:
        envelope, signer = transition.envelope, transition.signer
        if transition.action == "sent":
            self._emit("submission.created", transition, self.submission(envelope))
            return
        event, kind = EVENTS[transition.action]
        if kind is not None and signer is not None:
            envelope.extra["events"].append(
                {
                    "id": len(envelope.extra["events"]) + 1,
                    "submitter_id": int(signer.id),
                    "event_type": kind,
                    "event_timestamp": iso(transition.at),
                }
            )
        if event.startswith("form.") and signer is not None:
            data = self.submitter(envelope, signer)
            data["submission"] = {
                key: value
                for key, value in self.submission(envelope).items()
                if key not in {"submitters", "submission_events"}
            }
            data["template"] = data["submission"]["template"]
            self._emit(event, transition, data)
        else:
            self._emit(event, transition, self.submission(envelope))
        if transition.completed:
            self._emit("submission.completed", transition, self.submission(envelope))

    def _emit(self, event: str, transition: Transition, data: dict[str, Any]) -> None:
        body = json.dumps(
            {"event_type": event, "timestamp": iso(transition.at), "data": data}
        ).encode()
        url, secret = self.webhook_url, self._secret

        def build() -> tuple[str, dict[str, str], bytes]:
            stamp = int(time.time())  # the time of this attempt, not of the event
            headers = {
                "Content-Type": "application/json",
                "X-Docuseal-Signature": docuseal_signature(secret, stamp, body),
            }
            return url, headers, body

        self.emitter.emit(build)


class _Endpoints:
    def __init__(self, emulator: DocuSealEmulator) -> None:
        self.e = emulator

    async def create(self, request: Request) -> Response:
        self.e.authorize(request)
        envelope = self.e.create_submission(await read_json(request))
        transition = self.e.book.send(envelope.id)
        self.e.publish(transition)
        return JSONResponse([self.e.submitter(envelope, s) for s in envelope.signers])

    async def get_submission(self, request: Request) -> Response:
        self.e.authorize(request)
        envelope = self.e.book.get(request.path_params["submission_id"])
        return JSONResponse(self.e.submission(envelope))

    async def documents(self, request: Request) -> Response:
        self.e.authorize(request)
        envelope = self.e.book.get(request.path_params["submission_id"])
        key = envelope.extra.setdefault("file_key", secrets.token_urlsafe(18))
        url = f"{str(request.base_url).rstrip('/')}/file/{key}/{envelope.id}.pdf"
        return JSONResponse(
            {"id": int(envelope.id), "documents": [{"name": envelope.title, "url": url}]}
        )

    async def file_link(self, request: Request) -> Response:
        # A storage link: the key is the credential, and it answers with a redirect to the
        # blob, as DocuSeal's signed links do.
        key = request.path_params["key"]
        return RedirectResponse(f"{str(request.base_url).rstrip('/')}/blob/{key}", 302)

    async def blob(self, request: Request) -> Response:
        key = request.path_params["key"]
        for envelope in self.e.book.envelopes.values():
            if envelope.extra.get("file_key") == key:
                return pdf_response(signed_pdf(envelope.id, envelope.title, "DocuSeal"))
        raise EmulatorRefusal(404, "not_found", "Not Found")

    async def list_templates(self, request: Request) -> Response:
        """``GET /templates``: the templates submissions were made from, ``limit`` at most."""
        self.e.authorize(request)
        raw = request.query_params.get("limit", "10")
        if not raw.isdigit() or not 1 <= int(raw) <= 100:
            raise EmulatorRefusal(422, "unprocessable", "limit must be a number from 1 to 100")
        ids = sorted({envelope.template_id for envelope in self.e.book.envelopes.values()})
        shown = [{"id": int(i) if i.isdigit() else i, "name": f"Template {i}"} for i in ids]
        shown = shown[: int(raw)]
        return JSONResponse(
            {"data": shown, "pagination": {"count": len(shown), "next": None, "prev": None}}
        )

    async def list_submitters(self, request: Request) -> Response:
        self.e.authorize(request)
        external_id = request.query_params.get("external_id")
        found = [
            self.e.submitter(envelope, signer)
            for envelope in self.e.book.envelopes.values()
            for signer in envelope.signers
            if external_id is None
            or envelope.extra["submitters"][signer.id]["external_id"] == external_id
        ]
        return JSONResponse(
            {"data": found, "pagination": {"count": len(found), "next": None, "prev": None}}
        )

    async def get_submitter(self, request: Request) -> Response:
        wanted = request.path_params["submitter_id"]
        self.e.authorize(request)
        for envelope in self.e.book.envelopes.values():
            for signer in envelope.signers:
                if signer.id == wanted:
                    return JSONResponse(self.e.submitter(envelope, signer))
        raise EmulatorRefusal(404, "not_found", "Not Found")


def _routes(emulator: DocuSealEmulator) -> list[RouteSpec]:
    ep = _Endpoints(emulator)
    return [
        ("/templates", ep.list_templates, ["GET"]),
        ("/submissions", ep.create, ["POST"]),
        ("/submissions/{submission_id}", ep.get_submission, ["GET"]),
        ("/submissions/{submission_id}/documents", ep.documents, ["GET"]),
        ("/file/{key}/{name}", ep.file_link, ["GET"]),
        ("/blob/{key}", ep.blob, ["GET"]),
        ("/submitters", ep.list_submitters, ["GET"]),
        ("/submitters/{submitter_id}", ep.get_submitter, ["GET"]),
    ]


# The emulator as an ASGI app; its ``DocuSealEmulator`` is ``app.state.emulator``.
create_docuseal_emulator = app_factory(DocuSealEmulator, _routes)


# ``python -m inkbridge_emulators.docuseal --webhook-url URL [--port N]``
PROCESS = ProviderProcess(
    create_docuseal_emulator, "DocuSeal", 8125, "webhook_url", DEV_CREDENTIALS
)

if __name__ == "__main__":
    PROCESS.main()
