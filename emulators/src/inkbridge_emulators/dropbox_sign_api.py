"""The Dropbox Sign emulator's HTTP surface: create, read, embedded sign URLs, the signing page
and the test-control actions. Errors take Dropbox Sign's shape,
``{"error": {"error_msg", "error_name"}}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from inkbridge.sandbox.signing_page import done_page, signing_page, unavailable_page
from inkbridge_emulators.documents import pdf_response, signed_pdf
from inkbridge_emulators.dropbox_sign_state import (
    Refusal,
    SignatureRequest,
    check_metadata,
    signatures_of,
)

if TYPE_CHECKING:
    from inkbridge_emulators.dropbox_sign import DropboxSignEmulator

CREATE_OPERATIONS = (
    "create_embedded_with_template",
    "create_embedded",
    "send_with_template",
    "send",
)
EMBEDDED_OPERATIONS = frozenset({"create_embedded_with_template", "create_embedded"})
SIGN_URL_LIFETIME_SECONDS = 3600
Handler = Callable[[Request], Awaitable[Response]]


def error(status: int, name: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"error_msg": message, "error_name": name}}, status_code=status)


def refused(exc: Refusal) -> JSONResponse:
    return error(exc.status, exc.name, exc.message)


@dataclass
class SigningSession:
    """One embedded sign URL: opened once, then good for one sign or decline."""

    request_id: str
    signature_id: str
    expires_at: int
    opened: bool = False
    finished: bool = False


class DropboxSignApi:
    """Request handlers over one ``DropboxSignEmulator``."""

    def __init__(self, emulator: DropboxSignEmulator) -> None:
        self.e = emulator
        self.sessions: dict[str, SigningSession] = {}

    def creator(self, operation: str) -> Handler:
        async def create(request: Request) -> Response:
            try:
                self._authorize(request)
                return self._create(operation, await self._body(request, operation))
            except Refusal as exc:
                return refused(exc)

        return create

    def _create(self, operation: str, body: dict[str, Any]) -> Response:
        wrong_app = self.e.client_id is not None and body.get("client_id") != self.e.client_id
        if operation in EMBEDDED_OPERATIONS and wrong_app:
            raise Refusal(400, "bad_request", "No API app found for client_id")
        if "template" not in operation and not (body.get("files") or body.get("file_urls")):
            raise Refusal(400, "bad_request", "Must specify files or file_urls")
        metadata = check_metadata(body.get("metadata"))
        signatures = signatures_of(body, self.e.templates)
        request = SignatureRequest(
            signature_request_id=secrets.token_hex(20),
            title=str(body.get("title") or ""),
            subject=body.get("subject"),
            message=body.get("message"),
            metadata=metadata,
            created_at=self.e.now(),
            test_mode=bool(body.get("test_mode", False)),
            client_id=body.get("client_id") if operation in EMBEDDED_OPERATIONS else None,
            template_ids=body.get("template_ids"),
            signatures=signatures,
            custom_fields=[
                {"name": f.get("name"), "value": f.get("value"), "type": "text"}
                for f in body.get("custom_fields") or []
            ],
            definition=body,
            expires_at=body.get("expires_at"),
        )
        self.e.add(request)
        self.e.publish(request, [("signature_request_sent", None)])
        return JSONResponse({"signature_request": request.as_json(self.e.public_url)})

    async def account(self, request: Request) -> Response:
        """``GET /v3/account``: the API key's own account, as Dropbox Sign answers it."""
        try:
            self._authorize(request)
        except Refusal as exc:
            return refused(exc)
        account = {
            "account_id": "5008b25c7f67153e57d5a357b1687968068fb465",
            "email_address": "api@inkbridge.example",
            "is_locked": False,
            "is_paid_hs": True,
            "is_paid_hf": False,
            "callback_url": self.e.callback_url,
            "role_code": None,
        }
        return JSONResponse({"account": account})

    async def get_request(self, request: Request) -> Response:
        try:
            self._authorize(request)
            found = self._request(request.path_params["request_id"])
        except Refusal as exc:
            return refused(exc)
        return JSONResponse({"signature_request": found.as_json(self.e.public_url)})

    async def files(self, request: Request) -> Response:
        """``GET /v3/signature_request/files/{id}``: the documents merged into one PDF
        (``file_type=pdf``, the default); the emulator makes no ZIP."""
        try:
            self._authorize(request)
            found = self._request(request.path_params["request_id"])
            if request.query_params.get("file_type", "pdf") != "pdf":
                raise Refusal(400, "bad_request", "the emulator serves file_type=pdf only")
        except Refusal as exc:
            return refused(exc)
        pdf = signed_pdf(found.signature_request_id, found.title, "Dropbox Sign")
        return pdf_response(pdf, "files.pdf")

    async def sign_url(self, request: Request) -> Response:
        try:
            self._authorize(request)
            signature_id = request.path_params["signature_id"]
            request_id = self.e.signature_index.get(signature_id)
            if request_id is None:
                raise Refusal(404, "not_found", "Signature not found")
            found = self._request(request_id)
            if found.client_id is None:
                raise Refusal(400, "bad_request", "This request is not embedded")
            if found.signature(signature_id).status_code != "awaiting_signature":
                raise Refusal(409, "conflict", "This request has already been signed")
            if not found.is_open:
                raise Refusal(409, "conflict", "The signature request is no longer open")
        except Refusal as exc:
            return refused(exc)
        token = secrets.token_urlsafe(24)
        expires = self.e.now() + SIGN_URL_LIFETIME_SECONDS
        self.sessions[token] = SigningSession(request_id, signature_id, expires)
        url = f"{str(request.base_url).rstrip('/')}/embedded-sign/{token}"
        return JSONResponse({"embedded": {"sign_url": url, "expires_at": expires}})

    async def signing_page(self, request: Request) -> Response:
        token = request.path_params["token"]
        session = self.sessions.get(token)
        if session is None:
            return unavailable_page("This signing link is unknown.", 404)
        if session.opened or self.e.now() >= session.expires_at:
            return unavailable_page("This signing link was already used or has expired.", 410)
        session.opened = True
        found = self.e.requests[session.request_id]
        signature = found.signature(session.signature_id)
        if found.is_open and signature.status_code == "awaiting_signature":
            self.e.act(found, "view", signature_id=signature.signature_id)
        return signing_page(
            token=token, title=found.title, signer_name=signature.name, merge_fields={}
        )

    async def signing_outcome(self, request: Request) -> Response:
        session = self.sessions.get(request.path_params["token"])
        outcome = request.path_params["outcome"]
        if session is None or not session.opened or session.finished:
            return unavailable_page("This signing session is not open.", 410)
        if outcome not in {"sign", "decline"}:
            return unavailable_page("Unknown signing step.", 404)
        session.finished = True
        found = self.e.requests[session.request_id]
        try:
            self.e.act(found, outcome, signature_id=session.signature_id)
        except Refusal as exc:
            return unavailable_page(exc.message, exc.status)
        # Embedded signing ends in the host page (hellosign-embedded), not in a redirect.
        return done_page(title=found.title, outcome="signed" if outcome == "sign" else "declined")

    async def control(self, request: Request) -> Response:
        found = self.e.requests.get(request.path_params["request_id"])
        if found is None:
            return error(404, "not_found", "Not found")
        raw = await request.body()
        try:
            options = json.loads(raw) if raw.strip() else {}
        except ValueError:
            options = None
        if not isinstance(options, dict):
            return error(400, "bad_request", "the body must be a JSON object")
        try:
            events = self.e.act(
                found,
                request.path_params["action"],
                signature_id=options.get("signature_id"),
                reason=options.get("reason"),
            )
        except Refusal as exc:
            return refused(exc)
        return JSONResponse(
            {
                "signature_request_id": found.signature_request_id,
                "events": [event for event, _ in events],
            }
        )

    def _authorize(self, request: Request) -> None:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            user = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            user = ""
        if scheme.lower() != "basic" or not user or not self.e.api_key_matches(user):
            raise Refusal(401, "unauthorized", "Unauthorized api key")

    def _request(self, request_id: str) -> SignatureRequest:
        found = self.e.requests.get(request_id)
        if found is None:
            raise Refusal(404, "not_found", "Not found")
        if found.canceled:
            raise Refusal(410, "deleted", "This resource has been deleted")
        return found

    async def _body(self, request: Request, operation: str) -> dict[str, Any]:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            # The API also takes multipart forms; the emulator reads JSON only.
            raise Refusal(400, "bad_request", "the emulator accepts application/json bodies")
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise Refusal(400, "bad_request", "the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise Refusal(400, "bad_request", "the body must be a JSON object")
        validator = self.e.validators.get(operation)
        problems = validator.problems(body) if validator is not None else []
        if problems:
            raise Refusal(400, "bad_request", "; ".join(problems))
        return body
