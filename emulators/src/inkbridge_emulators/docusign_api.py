"""The DocuSign emulator's HTTP surface: OAuth token, envelope endpoints, the signing page and
the test-control actions. Errors take DocuSign's shape, ``{"errorCode", "message"}``, and OAuth
errors the OAuth shape, ``{"error", "error_description"}``.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jwt
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from inkbridge.sandbox.signing_page import done_page, signing_page, unavailable_page
from inkbridge_emulators.documents import pdf_response, signed_pdf
from inkbridge_emulators.docusign_state import (
    INCOMPLETE,
    OPEN_STATUSES,
    Emitted,
    Envelope,
    Recipient,
    Refusal,
    custom_fields_of,
    ds_time,
    recipients_of,
    send,
)

if TYPE_CHECKING:
    from inkbridge_emulators.docusign import DocuSignEmulator

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
REQUIRED_CLAIMS = ["iss", "sub", "aud", "iat", "exp"]
CLOCK_SKEW_SECONDS = 60
MAX_ASSERTION_LIFETIME_SECONDS = 3600
VIEW_URL_LIFETIME = timedelta(minutes=5)  # DocuSign: a recipient view URL lives ~5 minutes
BAD_BODY = "The request body is missing or improperly formatted."


def ds_error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"errorCode": code, "message": message}, status_code=status)


def oauth_error(error: str, description: str = "") -> JSONResponse:
    body = {"error": error} | ({"error_description": description} if description else {})
    return JSONResponse(body, status_code=400)


@dataclass
class ViewSession:
    """One recipient view URL: single use, short-lived, like DocuSign's."""

    envelope_id: str
    recipient_id: str
    return_url: str
    expires_at: datetime
    opened: bool = False
    finished: bool = False


class DocuSignApi:
    """Request handlers over one ``DocuSignEmulator``."""

    def __init__(self, emulator: DocuSignEmulator) -> None:
        self.e = emulator
        self.sessions: dict[str, ViewSession] = {}

    # OAuth

    async def token(self, request: Request) -> Response:
        form = await request.form()
        if form.get("grant_type") != JWT_BEARER_GRANT:
            return oauth_error("unsupported_grant_type")
        assertion = form.get("assertion")
        if not isinstance(assertion, str) or not assertion:
            return oauth_error("invalid_request", "assertion is required")
        # DocuSign wants the bare auth host as audience; here, the host this request came to.
        audience = self.e.audience or request.url.netloc
        try:
            claims = self._claims(assertion, audience)
        except jwt.PyJWTError as exc:
            return oauth_error("invalid_grant", type(exc).__name__)
        if self.e.integration_key is not None and claims["iss"] != self.e.integration_key:
            return oauth_error("invalid_grant", "issuer_not_found")
        if self.e.user_id is not None and claims["sub"] != self.e.user_id:
            return oauth_error("invalid_grant", "user_not_found")
        if "signature" not in str(claims.get("scope", "")).split():
            return oauth_error("invalid_scope", "the signature scope is required")
        token, ttl = self.e.issue_token()
        return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": ttl})

    def _claims(self, assertion: str, audience: str) -> dict[str, Any]:
        # Times are checked against the emulator's clock (tests may move it), not PyJWT's.
        if self.e.public_key_pem is not None:
            claims = jwt.decode(
                assertion,
                self.e.public_key_pem,
                algorithms=["RS256"],
                audience=audience,
                options={"verify_exp": False, "verify_iat": False, "require": REQUIRED_CLAIMS},
            )
        else:  # no key configured: everything but the signature
            claims = jwt.decode(
                assertion,
                audience=audience,
                options={
                    "verify_signature": False,
                    "verify_aud": True,
                    "verify_exp": False,
                    "verify_iat": False,
                    "require": REQUIRED_CLAIMS,
                },
            )
        now = self.e.clock().timestamp()
        iat, exp = claims["iat"], claims["exp"]
        if not isinstance(iat, int | float) or not isinstance(exp, int | float):
            raise jwt.InvalidTokenError("iat and exp must be numbers")
        if exp < now - CLOCK_SKEW_SECONDS or iat > now + CLOCK_SKEW_SECONDS:
            raise jwt.ExpiredSignatureError("the assertion is not valid now")
        if exp - iat > MAX_ASSERTION_LIFETIME_SECONDS:
            raise jwt.InvalidTokenError("an assertion may live one hour at most")
        return claims

    # eSignature REST

    async def get_account(self, request: Request) -> Response:
        """``GET /v2.1/accounts/{accountId}``: the account, to a user who belongs to it."""
        try:
            self._authorize(request)
        except Refusal as refused:
            return ds_error(refused.status, refused.code, refused.message)
        account = {
            "accountIdGuid": self.e.account_id,
            "accountName": "inkbridge emulator",
            "distributorCode": "DEVCENTER_DEMO_APRIL2013",
            "isDowngrade": "false",
        }
        return JSONResponse(account)

    async def create_envelope(self, request: Request) -> Response:
        try:
            self._authorize(request)
            body = await self._body(request, "envelopeDefinition")
            status = body.get("status") or "created"
            if status not in {"sent", "created"}:
                raise Refusal(400, "INVALID_REQUEST_PARAMETER", f"unsupported status {status!r}")
            recipients = recipients_of(body, self.e.templates)
            if status == "sent" and (not recipients or not body.get("emailSubject")):
                raise Refusal(400, "ENVELOPE_IS_INCOMPLETE", INCOMPLETE)
            fields = custom_fields_of(body)
        except Refusal as refused:
            return ds_error(refused.status, refused.code, refused.message)
        now = ds_time(self.e.clock())
        envelope = Envelope(
            envelope_id=self.e.new_envelope_id(),
            account_id=self.e.account_id,
            status="created",
            email_subject=str(body.get("emailSubject") or ""),
            created_at=now,
            recipients=recipients,
            text_custom_fields=fields,
            definition=body,
            template_id=body.get("templateId"),
            status_changed_at=now,
            last_modified_at=now,
        )
        self.e.envelopes[envelope.envelope_id] = envelope
        events: Emitted = [("envelope-created", None)]
        if status == "sent":
            envelope.status = "sent"
            events = send(envelope, self.e.clock())
        self.e.publish(envelope, events)
        answer = {
            "envelopeId": envelope.envelope_id,
            "uri": envelope.uri,
            "statusDateTime": envelope.status_changed_at,
            "status": envelope.status,
        }
        return JSONResponse(answer, status_code=201)

    async def get_envelope(self, request: Request) -> Response:
        try:
            self._authorize(request)
            envelope = self._envelope(request)
        except Refusal as refused:
            return ds_error(refused.status, refused.code, refused.message)
        include = {p.strip() for p in request.query_params.get("include", "").split(",")}
        summary = envelope.summary(
            recipients="recipients" in include, custom_fields="custom_fields" in include
        )
        return JSONResponse(summary)

    async def recipient_view(self, request: Request) -> Response:
        try:
            self._authorize(request)
            envelope = self._envelope(request)
            body = await self._body(request, "recipientViewRequest")
            if not body.get("returnUrl") or not body.get("authenticationMethod"):
                raise Refusal(
                    400, "INVALID_REQUEST_PARAMETER", "returnUrl and authenticationMethod required"
                )
            recipient = self._captive_recipient(envelope, body)
            if envelope.status not in OPEN_STATUSES | {"completed"}:
                raise Refusal(400, "ENVELOPE_INVALID_STATUS", f"the envelope is {envelope.status}")
        except Refusal as refused:
            return ds_error(refused.status, refused.code, refused.message)
        token = secrets.token_urlsafe(24)
        self.sessions[token] = ViewSession(
            envelope_id=envelope.envelope_id,
            recipient_id=recipient.recipient_id,
            return_url=str(body["returnUrl"]),
            expires_at=self.e.clock() + VIEW_URL_LIFETIME,
        )
        url = f"{str(request.base_url).rstrip('/')}/signing/{token}"
        return JSONResponse({"url": url}, status_code=201)

    async def combined_document(self, request: Request) -> Response:
        """``GET …/envelopes/{id}/documents/combined``: every document as one PDF."""
        try:
            self._authorize(request)
            envelope = self._envelope(request)
        except Refusal as refused:
            return ds_error(refused.status, refused.code, refused.message)
        pdf = signed_pdf(envelope.envelope_id, envelope.email_subject, "DocuSign")
        return pdf_response(pdf, "combined.pdf")

    # Signing page

    async def signing_page(self, request: Request) -> Response:
        token = request.path_params["token"]
        session = self.sessions.get(token)
        if session is None:
            return unavailable_page("This signing link is unknown.", 404)
        if session.opened or self.e.clock() >= session.expires_at:
            # DocuSign's view URLs work once, for about five minutes.
            return unavailable_page("This signing link was already used or has expired.", 410)
        session.opened = True
        envelope = self.e.envelopes[session.envelope_id]
        recipient = envelope.recipient(session.recipient_id)
        if envelope.status in OPEN_STATUSES and recipient.delivered_at is None:
            self.e.act(envelope, "view", recipient_id=recipient.recipient_id)
        return signing_page(
            token=token, title=envelope.email_subject, signer_name=recipient.name, merge_fields={}
        )

    async def signing_outcome(self, request: Request) -> Response:
        session = self.sessions.get(request.path_params["token"])
        outcome = request.path_params["outcome"]
        if (
            session is None
            or not session.opened
            or session.finished
            or outcome
            not in {
                "sign",
                "decline",
            }
        ):
            return unavailable_page("This signing session is not open.", 410)
        session.finished = True
        envelope = self.e.envelopes[session.envelope_id]
        try:
            self.e.act(envelope, outcome, recipient_id=session.recipient_id)
        except Refusal as exc:
            return unavailable_page(exc.message, exc.status)
        event = "signing_complete" if outcome == "sign" else "decline"
        if urlsplit(session.return_url).scheme not in {"http", "https"}:
            return done_page(
                title=envelope.email_subject, outcome="signed" if outcome == "sign" else "declined"
            )
        separator = "&" if "?" in session.return_url else "?"
        return RedirectResponse(f"{session.return_url}{separator}event={event}", status_code=303)

    # Test control

    async def control(self, request: Request) -> Response:
        envelope = self.e.envelopes.get(request.path_params["envelope_id"])
        if envelope is None:
            return ds_error(404, "ENVELOPE_DOES_NOT_EXIST", "no such envelope")
        raw = await request.body()
        try:
            options = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return ds_error(400, "INVALID_REQUEST_BODY", BAD_BODY)
        if not isinstance(options, dict):
            return ds_error(400, "INVALID_REQUEST_BODY", BAD_BODY)
        try:
            events = self.e.act(
                envelope,
                request.path_params["action"],
                recipient_id=options.get("recipientId"),
                reason=options.get("reason"),
            )
        except Refusal as exc:
            return ds_error(exc.status, exc.code, exc.message)
        return JSONResponse(
            {
                "envelopeId": envelope.envelope_id,
                "status": envelope.status,
                "events": [event for event, _ in events],
            }
        )

    # Helpers

    def _authorize(self, request: Request) -> None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not self.e.token_is_valid(token.strip()):
            raise Refusal(
                401,
                "USER_AUTHENTICATION_FAILED",
                "One or both of Username and Password are invalid. Invalid access token",
            )
        if request.path_params.get("account_id") != self.e.account_id:
            raise Refusal(
                400,
                "USER_DOES_NOT_BELONG_TO_SPECIFIED_ACCOUNT",
                "The specified User is not a member of the specified Account.",
            )

    def _envelope(self, request: Request) -> Envelope:
        envelope = self.e.envelopes.get(request.path_params["envelope_id"])
        if envelope is None:
            raise Refusal(
                400,
                "ENVELOPE_DOES_NOT_EXIST",
                "The envelope specified either does not exist or you have no rights to it.",
            )
        return envelope

    async def _body(self, request: Request, definition: str) -> dict[str, Any]:
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise Refusal(400, "INVALID_REQUEST_BODY", BAD_BODY) from None
        if not isinstance(body, dict):
            raise Refusal(400, "INVALID_REQUEST_BODY", BAD_BODY)
        validator = self.e.validators.get(definition)
        problems = validator.problems(body) if validator is not None else []
        if problems:
            raise Refusal(400, "INVALID_REQUEST_BODY", f"{BAD_BODY} {'; '.join(problems)}")
        return body

    def _captive_recipient(self, envelope: Envelope, body: dict[str, Any]) -> Recipient:
        """The embedded recipient the view names: clientUserId, userName and email must all
        match, as at DocuSign."""
        email = str(body.get("email") or "").lower()
        for candidate in envelope.recipients:
            if (
                candidate.client_user_id is not None
                and candidate.client_user_id == body.get("clientUserId")
                and candidate.name == body.get("userName")
                and candidate.email.lower() == email
                and body.get("recipientId") in {None, candidate.recipient_id}
            ):
                return candidate
        raise Refusal(
            400,
            "UNKNOWN_ENVELOPE_RECIPIENT",
            "The recipient you have identified is not a valid recipient of the specified envelope.",
        )
