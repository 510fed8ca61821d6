"""A Dropbox Sign emulator: the v3 endpoints inkbridge calls (basic auth with the API key), an
embedded signing page, and callbacks delivered as Dropbox Sign delivers them.

Endpoints:

- ``POST /v3/signature_request/create_embedded_with_template`` | ``create_embedded`` |
  ``send_with_template`` | ``send`` create a request (JSON bodies)
- ``GET /v3/signature_request/{id}`` status (410 once canceled, as at Dropbox Sign)
- ``GET /v3/signature_request/files/{id}`` the documents as one PDF (``file_type=pdf``)
- ``GET /v3/embedded/sign_url/{signature_id}`` a single-use embedded signing URL
- ``GET /embedded-sign/{token}`` the signing page; ``POST /embedded-sign/{token}/sign|decline``
- ``POST /_emulator/signature_requests/{id}/{view|sign|decline|void|expire|bounce}`` test
  control, JSON body optional: ``{"signature_id": "...", "reason": "..."}``

With ``schema_path`` (Dropbox Sign's ``openapi.yaml``) request bodies are validated against the
schema each operation declares for ``application/json`` (a misspelled field is refused), and
every callback against ``EventCallbackRequest`` before it is queued.

Callbacks are ``multipart/form-data`` with the event JSON in the field ``json``, signed by
``event_hash``; a delivery counts only when answered 200 with exactly
``Hello API Event Received``, anything else is retried.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inkbridge.errors import ConfigError
from inkbridge_emulators.dropbox_sign_api import CREATE_OPERATIONS, DropboxSignApi
from inkbridge_emulators.dropbox_sign_state import (
    Emitted,
    SignatureRequest,
    apply_action,
    callback_document,
)
from inkbridge_emulators.emitter import Build, EmitsWebhooks, Emitter
from inkbridge_emulators.faults import Chaos
from inkbridge_emulators.process import ProviderProcess
from inkbridge_emulators.vendor_schemas import (
    SchemaValidator,
    openapi_request_body,
    openapi_schema,
)

ACK_BODY = b"Hello API Event Received"

# Credentials of a process run (``--<name>`` overrides): the emulator is for tests and local runs.
DEV_CREDENTIALS = {"api_key": "dropbox-sign-dev-key"}


def accept_dropbox_ack(response: httpx.Response) -> bool:
    """Dropbox Sign's rule: 200 and exactly the ack text, or the delivery failed."""
    return response.status_code == 200 and response.content == ACK_BODY


class DropboxSignEmulator(EmitsWebhooks):
    """In-memory Dropbox Sign: signature requests, signing sessions and the callback emitter."""

    def __init__(
        self,
        *,
        callback_url: str | None,
        api_key: str,
        schema_path: Path | None,
        chaos: Chaos | None,
        client: httpx.AsyncClient | None,
        client_id: str | None = None,
        account_id: str = "63522885f9261e2b04eea043933ee7313eb674fd",
        templates: Mapping[str, Sequence[str]] | None = None,
        public_url: str = "http://dropbox-sign.test",
        max_attempts: int = 20,
        retry_base_seconds: float = 0.05,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.callback_url = callback_url
        self._api_key = api_key
        self.client_id = client_id
        self.account_id = account_id
        self.templates = {k: tuple(v) for k, v in (templates or {}).items()}
        self.public_url = public_url.rstrip("/")
        self.clock = clock or (lambda: datetime.now(UTC))
        self.requests: dict[str, SignatureRequest] = {}
        self.signature_index: dict[str, str] = {}  # signature_id -> signature_request_id
        self.messages: list[dict[str, Any]] = []  # every callback document, as first rendered
        self.emitter = Emitter(
            client=client,
            chaos=chaos or Chaos(),
            accept=accept_dropbox_ack,
            max_attempts=max_attempts,
            retry_base_seconds=retry_base_seconds,
        )
        self.validators: dict[str, SchemaValidator] = {}
        if schema_path is not None:
            if not schema_path.is_file():
                raise ConfigError(f"Dropbox Sign OpenAPI file not found: {schema_path}")
            for operation in CREATE_OPERATIONS:
                api_path = f"/signature_request/{operation}"
                self.validators[operation] = openapi_request_body(schema_path, api_path)
            self.validators["callback"] = openapi_schema(schema_path, "EventCallbackRequest")

    def __repr__(self) -> str:
        return f"DropboxSignEmulator(account_id={self.account_id!r})"

    def api_key_matches(self, offered: str) -> bool:
        return secrets.compare_digest(offered.encode(), self._api_key.encode())

    def now(self) -> int:
        return int(self.clock().timestamp())

    def add(self, request: SignatureRequest) -> None:
        self.requests[request.signature_request_id] = request
        for signature in request.signatures:
            self.signature_index[signature.signature_id] = request.signature_request_id

    def act(
        self,
        request: SignatureRequest,
        action: str,
        *,
        signature_id: str | None = None,
        reason: str | None = None,
    ) -> Emitted:
        """Apply a test-control or signing-page action and send the callbacks it caused."""
        events = apply_action(request, action, self.now(), signature_id=signature_id, reason=reason)
        self.publish(request, events)
        return events

    def publish(self, request: SignatureRequest, events: Emitted) -> None:
        event_time = self.now()
        for event_type, signature in events:
            document = callback_document(
                request,
                event_type,
                signature,
                event_time=event_time,
                api_key=self._api_key,
                account_id=self.account_id,
                public_url=self.public_url,
            )
            validator = self.validators.get("callback")
            problems = validator.problems(document) if validator is not None else []
            if problems:
                # Our bug, not the caller's: fail loudly, never send what Dropbox Sign would not.
                raise RuntimeError(f"emulated callback off the published schema: {problems}")
            self.messages.append(document)
            if self.callback_url is not None:
                self.emitter.emit(_multipart_delivery(self.callback_url, document))


def _multipart_delivery(url: str, document: dict[str, Any]) -> Build:
    boundary = secrets.token_hex(16)
    text = json.dumps(document, separators=(",", ":"))
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="json"\r\n\r\n'
        f"{text}\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "User-Agent": "HelloSign API",
    }

    def build() -> tuple[str, dict[str, str], bytes]:
        # The hash covers event_time + event_type only, so every attempt sends the same bytes.
        return url, dict(headers), body

    return build


def create_dropbox_sign_emulator(
    *,
    callback_url: str | None,
    api_key: str,
    schema_path: Path | None = None,
    chaos: Chaos | None = None,
    client: httpx.AsyncClient | None = None,
    client_id: str | None = None,
    templates: Mapping[str, Sequence[str]] | None = None,
    max_attempts: int = 20,
    retry_base_seconds: float = 0.05,
    clock: Callable[[], datetime] | None = None,
) -> Starlette:
    """The emulator as an ASGI app; its ``DropboxSignEmulator`` is ``app.state.emulator``.

    ``client_id`` pins the API app embedded requests must name; ``templates`` (template id ->
    role names) makes unknown templates and roles an error.
    """
    emulator = DropboxSignEmulator(
        callback_url=callback_url,
        api_key=api_key,
        schema_path=schema_path,
        chaos=chaos,
        client=client,
        client_id=client_id,
        templates=templates,
        max_attempts=max_attempts,
        retry_base_seconds=retry_base_seconds,
        clock=clock,
    )
    api = DropboxSignApi(emulator)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await emulator.start()
        try:
            yield
        finally:
            await emulator.stop()

    async def health(_: Request) -> Response:
        return JSONResponse({"ok": True})

    creates = [
        Route(f"/v3/signature_request/{operation}", api.creator(operation), methods=["POST"])
        for operation in CREATE_OPERATIONS
    ]
    app = Starlette(
        routes=[
            *creates,
            Route("/v3/account", api.account, methods=["GET"]),
            Route("/v3/signature_request/{request_id}", api.get_request, methods=["GET"]),
            Route("/v3/signature_request/files/{request_id}", api.files, methods=["GET"]),
            Route("/v3/embedded/sign_url/{signature_id}", api.sign_url, methods=["GET"]),
            Route("/embedded-sign/{token}", api.signing_page, methods=["GET"]),
            Route("/embedded-sign/{token}/{outcome}", api.signing_outcome, methods=["POST"]),
            Route(
                "/_emulator/signature_requests/{request_id}/{action}",
                api.control,
                methods=["POST"],
            ),
            Route("/_emulator/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.emulator = emulator
    return app


# ``python -m inkbridge_emulators.dropbox_sign --webhook-url URL [--port N]``
PROCESS = ProviderProcess(
    create_dropbox_sign_emulator, "Dropbox Sign", 8121, "callback_url", DEV_CREDENTIALS
)

if __name__ == "__main__":
    PROCESS.main()
