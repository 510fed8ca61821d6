"""What the vendor emulators share: an in-memory envelope book, the test-control endpoint and the
app lifecycle around a webhook ``Emitter``.

The book knows nothing of any vendor's shapes. It keeps envelopes, signers and the lifecycle that
every e-signature product has in common (sent, viewed, signed, completed, declined, voided,
expired) and returns a ``Transition`` for each change; each vendor module turns transitions into
its own API answers and webhook format. State lives in memory only: an emulator is a test and
local-run tool, and a restart starting empty is what those want.

Test-control endpoint (mounted by every emulator)::

    POST /_emulator/envelopes/{id}/{view|sign|decline|void|expire}
    body (optional): {"signer": "<email or the vendor's recipient id>"}
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inkbridge_emulators.emitter import Accept, EmitsWebhooks, Emitter, accept_2xx
from inkbridge_emulators.faults import Chaos

ACTIONS = ("view", "sign", "decline", "void", "expire")


class EmulatorRefusal(Exception):
    """A request the emulated vendor would refuse; vendor modules render it in their format."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass
class BookSigner:
    """One recipient. ``id`` is the vendor's recipient id; ``token`` its signing-link secret."""

    id: str
    email: str
    name: str
    order: int
    role: str = ""
    token: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    viewed_at: datetime | None = None
    signed_at: datetime | None = None
    declined_at: datetime | None = None
    expired_at: datetime | None = None

    @property
    def done(self) -> bool:
        return self.signed_at is not None


@dataclass
class BookEnvelope:
    """One envelope. ``status``: created, sent, completed, declined, voided or expired."""

    id: str
    title: str
    template_id: str
    signers: list[BookSigner]
    created_at: datetime
    updated_at: datetime
    external_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    merge_fields: dict[str, str] = field(default_factory=dict)
    status: str = "created"
    sent_at: datetime | None = None
    completed_at: datetime | None = None
    ended_at: datetime | None = None  # when it reached a terminal state other than completed
    # Vendor-specific odds and ends (an Acrobat note, Documenso's numeric id, ...).
    extra: dict[str, Any] = field(default_factory=dict)

    def signer(self, ref: str | None) -> BookSigner | None:
        """The signer named by email or id; without a name, the next one who has not signed."""
        if ref is None:
            pending = [s for s in self.signers if not s.done]
            return min(pending, key=lambda s: s.order) if pending else None
        for signer in self.signers:
            if ref == signer.id or ref.lower() == signer.email.lower():
                return signer
        return None


@dataclass(frozen=True)
class Transition:
    """One accepted change. ``action`` is "sent" or one of ``ACTIONS``."""

    envelope: BookEnvelope
    action: str
    at: datetime
    signer: BookSigner | None = None
    completed: bool = False  # a signature that completed the envelope
    next_signer: BookSigner | None = None  # who is asked to sign next, after a signature


@dataclass(frozen=True)
class SignerInput:
    email: str
    name: str
    role: str = ""


class EnvelopeBook:
    """Envelopes by id, with the shared lifecycle rules."""

    def __init__(
        self,
        new_envelope_id: Callable[[], str],
        new_signer_id: Callable[[], str],
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._new_envelope_id = new_envelope_id
        self._new_signer_id = new_signer_id
        self._clock = clock or (lambda: datetime.now(UTC))
        self._last: datetime | None = None
        self.envelopes: dict[str, BookEnvelope] = {}

    def now(self) -> datetime:
        """The clock, strictly increasing by at least a millisecond: vendors that key webhooks
        on a millisecond ``updatedAt`` must never see two changes at the same instant."""
        current = self._clock()
        if self._last is not None and current < self._last + timedelta(milliseconds=1):
            current = self._last + timedelta(milliseconds=1)
        self._last = current
        return current

    def create(
        self,
        *,
        title: str,
        template_id: str,
        signers: Sequence[SignerInput],
        external_id: str | None = None,
        metadata: dict[str, str] | None = None,
        merge_fields: dict[str, str] | None = None,
    ) -> BookEnvelope:
        if not signers:
            raise EmulatorRefusal(400, "NO_SIGNERS", "at least one signer is required")
        at = self.now()
        envelope = BookEnvelope(
            id=self._new_envelope_id(),
            title=title,
            template_id=template_id,
            signers=[
                BookSigner(
                    id=self._new_signer_id(), email=s.email, name=s.name, order=i + 1, role=s.role
                )
                for i, s in enumerate(signers)
            ],
            created_at=at,
            updated_at=at,
            external_id=external_id,
            metadata=dict(metadata or {}),
            merge_fields=dict(merge_fields or {}),
        )
        self.envelopes[envelope.id] = envelope
        return envelope

    def get(self, envelope_id: str) -> BookEnvelope:
        envelope = self.envelopes.get(envelope_id)
        if envelope is None:
            raise EmulatorRefusal(404, "NOT_FOUND", "envelope not found")
        return envelope

    def send(self, envelope_id: str) -> Transition:
        envelope = self.get(envelope_id)
        if envelope.status != "created":
            raise EmulatorRefusal(409, "INVALID_STATE", f"envelope is {envelope.status}")
        at = self.now()
        envelope.status, envelope.sent_at, envelope.updated_at = "sent", at, at
        return Transition(envelope, "sent", at, next_signer=envelope.signer(None))

    def act(self, envelope_id: str, action: str, signer_ref: str | None = None) -> Transition:
        """Apply a control action; ``EmulatorRefusal`` when the lifecycle does not allow it."""
        if action not in ACTIONS:
            raise EmulatorRefusal(404, "UNKNOWN_ACTION", f"unknown action {action!r}")
        envelope = self.get(envelope_id)
        if envelope.status != "sent":
            raise EmulatorRefusal(409, "INVALID_STATE", f"envelope is {envelope.status}")
        signer: BookSigner | None = None
        if action in {"view", "sign", "decline", "expire"}:
            signer = envelope.signer(signer_ref)
            if signer is None and signer_ref is None and action != "sign":
                signer = envelope.signers[0]
            if signer is None:
                raise EmulatorRefusal(404, "NO_SUCH_SIGNER", "no such signer, or all have signed")
            if action == "sign" and signer.done:
                raise EmulatorRefusal(409, "ALREADY_SIGNED", "the signer has already signed")
        at = self.now()
        envelope.updated_at = at
        if action == "view":
            signer = _required(signer)
            signer.viewed_at = signer.viewed_at or at
            return Transition(envelope, action, at, signer)
        if action == "sign":
            signer = _required(signer)
            signer.viewed_at = signer.viewed_at or at
            signer.signed_at = at
            if all(s.done for s in envelope.signers):
                envelope.status, envelope.completed_at = "completed", at
                return Transition(envelope, action, at, signer, completed=True)
            return Transition(envelope, action, at, signer, next_signer=envelope.signer(None))
        if action == "decline":
            _required(signer).declined_at = at
            envelope.status, envelope.ended_at = "declined", at
        elif action == "void":
            envelope.status, envelope.ended_at = "voided", at
        else:
            for pending in envelope.signers:
                if not pending.done:
                    pending.expired_at = at
            envelope.status, envelope.ended_at = "expired", at
        return Transition(envelope, action, at, signer)


def _required(signer: BookSigner | None) -> BookSigner:
    assert signer is not None  # act() resolved it for every per-signer action
    return signer


def iso(moment: datetime | None, *, millis: bool = True) -> str | None:
    """``2026-03-02T10:15:40.123Z`` (or whole seconds), as the vendors write UTC times."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    if millis:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def read_json(request: Request) -> Any:
    """The JSON body (``{}`` when empty); ``EmulatorRefusal`` 400 when it is not JSON."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise EmulatorRefusal(400, "INVALID_JSON", "body is not valid JSON") from None


class VendorEmulator(EmitsWebhooks):
    """Base of the four emulators: the book, the emitter and the control endpoint.

    Subclasses implement ``publish`` (turn a transition into webhooks) and ``render_error``
    (a refusal in the vendor's error format).
    """

    drain_timeout = 30.0

    def __init__(
        self,
        *,
        webhook_url: str,
        book: EnvelopeBook,
        chaos: Chaos | None,
        client: httpx.AsyncClient | None,
        accept: Accept = accept_2xx,
    ) -> None:
        self.webhook_url = webhook_url
        self.book = book
        self.emitter = Emitter(client=client, chaos=chaos or Chaos(), accept=accept)

    def publish(self, transition: Transition) -> None:
        raise NotImplementedError

    def render_error(self, refusal: EmulatorRefusal) -> Response:
        return JSONResponse({"error": refusal.message}, status_code=refusal.status)

    async def control(self, request: Request) -> Response:
        """``POST /_emulator/envelopes/{id}/{action}``: change state and emit the webhooks."""
        body = await read_json(request)
        ref = body.get("signer") if isinstance(body, dict) else None
        transition = self.book.act(
            request.path_params["envelope_id"],
            request.path_params["action"],
            str(ref) if ref is not None else None,
        )
        self.publish(transition)
        envelope = transition.envelope
        return JSONResponse(
            {"id": envelope.id, "action": transition.action, "status": envelope.status}
        )


Handler = Callable[[Request], Awaitable[Response]]
RouteSpec = tuple[str, Handler, Sequence[str]]
P = ParamSpec("P")
E = TypeVar("E", bound="VendorEmulator")


def build_app(emulator: VendorEmulator, routes: Sequence[RouteSpec]) -> Starlette:
    """The emulator as an ASGI app (``app.state.emulator``); its lifespan runs the emitter.

    Handlers raise ``EmulatorRefusal`` freely: it is answered in the vendor's error format.
    Mounted inside another app, whose lifespan does not reach mounted apps, the host calls
    ``app.state.emulator.start()`` and ``stop()`` itself.
    """

    def rendering_refusals(handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except EmulatorRefusal as refusal:
                return emulator.render_error(refusal)

        return endpoint

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await emulator.start()
        try:
            yield
        finally:
            await emulator.stop()

    control = ("/_emulator/envelopes/{envelope_id}/{action}", emulator.control, ["POST"])
    app = Starlette(
        routes=[
            Route(path, rendering_refusals(handler), methods=list(methods))
            for path, handler, methods in [*routes, control]
        ],
        lifespan=lifespan,
    )
    app.state.emulator = emulator
    return app


def app_factory(
    emulator_class: Callable[P, E], routes: Callable[[E], Sequence[RouteSpec]]
) -> Callable[P, Starlette]:
    """``create_<vendor>_emulator``: takes the emulator's own arguments and answers its app."""

    def create(*args: P.args, **kwargs: P.kwargs) -> Starlette:
        emulator = emulator_class(*args, **kwargs)
        return build_app(emulator, routes(emulator))

    return create
