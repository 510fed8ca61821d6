"""The built-in sandbox e-signature provider: an HTTP API, a signing page and a webhook emitter.

It lets inkbridge run end to end with no real vendor. State lives in ``EnvelopeBook`` (SQLite),
webhooks go out through ``WebhookEmitter`` in inkbridge's normalized Standard Webhooks format, and
``Chaos`` makes delivery misbehave on request.

API (relative to where the app is mounted; ``public_url`` must include that prefix):

- ``POST /envelopes`` create and send (honours ``Idempotency-Key``)
- ``GET /envelopes/{id}`` status, recipients and the full event history
- ``GET /envelopes/{id}/document`` the signed PDF of a completed envelope (409 before)
- ``POST /envelopes/{id}/signing-url`` a single-use link to ``GET /sign/{token}``, bound to
  the browser whose signer cookie (``__Host-inkbridge-signer``) hashes to ``binding``: only
  inkbridge's ``/sign/{opaque}`` redemption sets that cookie, so the page is reachable only
  through a verified signer session
- ``POST /sign/{token}/sign`` and ``POST /sign/{token}/decline`` (the page's buttons; the same
  cookie is required)
- ``POST /envelopes/{id}/void|expire|bounce|remind`` admin actions for tests
- ``GET|POST /_chaos`` delivery misbehaviour; ``GET /_outbox`` delivery counts

Access: the first four routes take the sandbox service credential (inkbridge's own client) or
an admin token; the signing page and its buttons are open to the signer; the rest need admin.

Starting the emitter: standalone, the app's lifespan starts and stops it. Mounted inside another
app (Starlette does not run a mounted app's lifespan), the host does it in its own lifespan::

    provider_app = create_provider_app(...)
    host.mount("/sandbox/provider", provider_app)
    # in the host's lifespan:
    await provider_app.state.sandbox.start()
    ...
    await provider_app.state.sandbox.stop()
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC
from pathlib import Path
from typing import Any, NotRequired, TypedDict, Unpack
from urllib.parse import urlencode, urlsplit

import httpx
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from inkbridge.access import ADMIN, SANDBOX_SERVICE
from inkbridge.domain.signer_session import SIGNER_COOKIE
from inkbridge.errors import ConfigError
from inkbridge.providers.standard_webhooks.adapter import secret_key
from inkbridge.sandbox.faults import Chaos, ChaosBody
from inkbridge.sandbox.guard import Authorizer, Endpoint, guarded, open_to_all
from inkbridge.sandbox.provider_bodies import (
    AdminActionBody,
    CreateEnvelopeBody,
    Scalar,
    SigningUrlBody,
)
from inkbridge.sandbox.provider_db import ProviderDatabase
from inkbridge.sandbox.provider_model import (
    ADMIN_ACTIONS,
    SandboxRefusal,
    SignerInput,
    SigningSession,
)
from inkbridge.sandbox.provider_outbox import WebhookEmitter
from inkbridge.sandbox.provider_store import Answer, EnvelopeBook
from inkbridge.sandbox.provider_wire import build_event, signed_delivery
from inkbridge.sandbox.signed_pdf import PDF_MEDIA_TYPE, signed_pdf
from inkbridge.sandbox.signing_page import done_page, signing_page, unavailable_page

__all__ = [
    "Chaos",
    "SandboxProvider",
    "build_event",
    "create_provider_app",
    "signed_delivery",
]

SIGNING_PAGE_REASON = "the signing page and its buttons: reached through a signer session"

# The ``event`` a return URL receives for each answer, as DocuSign's embedded signing names it.
_RETURN_EVENT: dict[Answer, str] = {"signed": "signing_complete", "declined": "decline"}


def _strings(values: dict[str, Scalar]) -> dict[str, str]:
    return {k: str(v) for k, v in values.items() if v is not None}


def _error(status: int, message: str, detail: Any = None) -> JSONResponse:
    body: dict[str, Any] = {"error": message}
    if detail is not None:
        body["detail"] = detail
    return JSONResponse(body, status_code=status)


async def _json(request: Request) -> Any:
    """The request's JSON body; an empty body reads as ``{}`` (admin actions need none)."""
    raw = await request.body()
    return json.loads(raw) if raw.strip() else {}


class ProviderOptions(TypedDict):
    """How a sandbox provider is set up: its state file (None keeps it in memory), where its
    webhooks go and how they are signed, its public URL, and how deliveries fail and retry."""

    state_path: Path | None
    webhook_url: str
    webhook_secret: str
    public_url: str
    chaos: NotRequired[Chaos | None]
    http_client: NotRequired[httpx.AsyncClient | None]
    max_attempts: NotRequired[int]
    retry_base_seconds: NotRequired[float]


class SandboxProvider:
    """The sandbox provider's state and webhook emitter; the host app starts and stops it."""

    def __init__(self, **options: Unpack[ProviderOptions]) -> None:
        webhook_secret = options["webhook_secret"]
        try:
            secret_key(webhook_secret)
        except ValueError:
            raise ConfigError("the sandbox webhook secret must be 'whsec_' + base64") from None
        self.public_url = options["public_url"].rstrip("/")
        self.db = ProviderDatabase(options["state_path"])
        self.book = EnvelopeBook(self.db)
        self.emitter = WebhookEmitter(
            self.db,
            url=options["webhook_url"],
            secret=webhook_secret,
            chaos=options.get("chaos"),
            client=options.get("http_client"),
            max_attempts=options.get("max_attempts", 20),
            retry_base_seconds=options.get("retry_base_seconds", 0.1),
        )

    async def start(self) -> None:
        """Start delivering webhooks (idempotent); needs a running event loop."""
        await self.emitter.start()

    async def stop(self) -> None:
        """Stop delivering; pending events stay in the state file for the next start."""
        await self.emitter.stop()

    def close(self) -> None:
        self.db.close()

    async def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every recorded event was delivered, dropped or given up on."""
        return await self.emitter.wait_idle(timeout)

    @property
    def chaos(self) -> Chaos:
        return self.emitter.chaos

    @chaos.setter
    def chaos(self, value: Chaos) -> None:
        self.emitter.chaos = value


class _Endpoints:
    """The HTTP surface over one ``SandboxProvider``."""

    def __init__(self, provider: SandboxProvider) -> None:
        self.p = provider

    async def create_envelope(self, request: Request) -> Response:
        try:
            body = CreateEnvelopeBody.model_validate(await _json(request))
        except ValueError as exc:
            return _invalid(exc)
        signers = [
            SignerInput(s.recipient_id or str(i + 1), s.email, s.name)
            for i, s in enumerate(body.signers)
        ]
        if len({s.recipient_id for s in signers}) != len(signers):
            return _error(400, "recipient_id values must be unique")
        key = request.headers.get("idempotency-key")
        if key is not None and not 0 < len(key) <= 200:
            return _error(400, "Idempotency-Key must be 1 to 200 characters")
        envelope_id, status = self.p.book.create(
            template_id=body.template_id,
            title=body.title,
            signers=signers,
            metadata=_strings(body.metadata),
            merge_fields=_strings(body.merge_fields),
            idempotency_key=key,
        )
        self.p.emitter.wake()
        return JSONResponse({"envelope_id": envelope_id, "status": status}, status_code=201)

    async def get_envelope(self, request: Request) -> Response:
        found = self.p.book.describe(request.path_params["envelope_id"])
        if found is None:
            return _error(404, "envelope not found")
        return JSONResponse(found)

    async def document(self, request: Request) -> Response:
        found = self.p.book.describe(request.path_params["envelope_id"])
        if found is None:
            return _error(404, "envelope not found")
        if found["status"] != "completed":
            return _error(409, f"envelope is {found['status']}: no signed document yet")
        pdf = signed_pdf(found["envelope_id"], found["title"])
        return Response(pdf, media_type=PDF_MEDIA_TYPE)

    async def signing_url(self, request: Request) -> Response:
        try:
            body = SigningUrlBody.model_validate(await _json(request))
            token = self.p.book.issue_token(
                request.path_params["envelope_id"],
                body.recipient_id,
                body.return_url,
                body.binding,
            )
        except ValueError as exc:
            return _invalid(exc)
        except SandboxRefusal as exc:
            return _error(exc.status, exc.reason)
        return JSONResponse({"url": f"{self.p.public_url}/sign/{token}"})

    async def admin_action(self, request: Request) -> Response:
        action = request.path_params["action"]
        if action not in ADMIN_ACTIONS:
            return _error(404, "unknown action")
        try:
            body = AdminActionBody.model_validate(await _json(request))
            when = body.occurred_at
            if when is not None and when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            self.p.book.admin_action(
                request.path_params["envelope_id"],
                action,
                recipient_id=body.recipient_id,
                force=body.force,
                occurred_at=when,
            )
        except ValueError as exc:
            return _invalid(exc)
        except SandboxRefusal as exc:
            return _error(exc.status, exc.reason)
        self.p.emitter.wake()
        return JSONResponse({"ok": True, "event": ADMIN_ACTIONS[action][0].value})

    async def signing_page(self, request: Request) -> Response:
        try:
            session = self.p.book.open_session(
                request.path_params["token"], request.cookies.get(SIGNER_COOKIE)
            )
        except SandboxRefusal as exc:
            return unavailable_page(exc.reason, exc.status)
        self.p.emitter.wake()
        return signing_page(
            token=session.token,
            title=session.title,
            signer_name=session.signer_name,
            merge_fields=session.merge_fields,
        )

    async def sign(self, request: Request) -> Response:
        return self._answer(request, "signed")

    async def decline(self, request: Request) -> Response:
        return self._answer(request, "declined")

    def _answer(self, request: Request, answer: Answer) -> Response:
        try:
            session = self.p.book.answer(
                request.path_params["token"], request.cookies.get(SIGNER_COOKIE), answer
            )
        except SandboxRefusal as exc:
            return unavailable_page(exc.reason, exc.status)
        self.p.emitter.wake()
        return _finished(session, answer, _RETURN_EVENT[answer])

    async def chaos(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                body = ChaosBody.model_validate(await _json(request))
                changes = body.model_dump(exclude_unset=True)
                # seed=null is meaningful (unseeded); other nulls mean "leave as is".
                changes = {k: v for k, v in changes.items() if v is not None or k == "seed"}
                self.p.chaos = dataclasses.replace(self.p.chaos, **changes)
            except ValueError as exc:
                return _invalid(exc)
        return JSONResponse(self.p.chaos.as_dict())

    async def outbox(self, request: Request) -> Response:
        return JSONResponse(self.p.emitter.snapshot())


def _invalid(exc: ValueError) -> JSONResponse:
    if isinstance(exc, ValidationError):
        # Field locations and messages only: the offending input may be personal data.
        detail = [
            {"loc": list(e["loc"]), "msg": e["msg"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        return _error(400, "invalid request body", detail)
    return _error(400, str(exc) if not isinstance(exc, json.JSONDecodeError) else "invalid JSON")


def _finished(session: SigningSession, outcome: str, event: str) -> Response:
    if session.return_url is None:
        return done_page(title=session.title, outcome=outcome)
    joiner = "&" if urlsplit(session.return_url).query else "?"
    query = urlencode({"event": event, "envelope_id": session.envelope_id})
    return RedirectResponse(f"{session.return_url}{joiner}{query}", status_code=303)


def create_provider_app(
    *, authorizer: Authorizer | None = None, **options: Unpack[ProviderOptions]
) -> Starlette:
    """The sandbox provider as an ASGI app; its ``SandboxProvider`` is ``app.state.sandbox``.

    ``http_client`` (optional) carries the webhooks, e.g. over ``httpx.ASGITransport`` in tests.
    ``authorizer`` checks every route but the signing pages (see ``sandbox.guard``); the
    host that mounts the sandbox passes one, tests may leave it out.
    """
    provider = SandboxProvider(**options)
    ep = _Endpoints(provider)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await provider.start()
        try:
            yield
        finally:
            await provider.stop()

    def service(endpoint: Endpoint) -> Endpoint:
        return guarded(endpoint, SANDBOX_SERVICE, authorizer)

    def admin(endpoint: Endpoint) -> Endpoint:
        return guarded(endpoint, ADMIN, authorizer)

    def signer(endpoint: Endpoint) -> Endpoint:
        return open_to_all(endpoint, SIGNING_PAGE_REASON)

    routes = [
        Route("/envelopes", service(ep.create_envelope), methods=["POST"]),
        Route("/envelopes/{envelope_id}", service(ep.get_envelope), methods=["GET"]),
        Route("/envelopes/{envelope_id}/document", service(ep.document), methods=["GET"]),
        Route("/envelopes/{envelope_id}/signing-url", service(ep.signing_url), methods=["POST"]),
        Route("/envelopes/{envelope_id}/{action}", admin(ep.admin_action), methods=["POST"]),
        Route("/sign/{token}", signer(ep.signing_page), methods=["GET"]),
        Route("/sign/{token}/sign", signer(ep.sign), methods=["POST"]),
        Route("/sign/{token}/decline", signer(ep.decline), methods=["POST"]),
        Route("/_chaos", admin(ep.chaos), methods=["GET", "POST"]),
        Route("/_outbox", admin(ep.outbox), methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.sandbox = provider
    return app
