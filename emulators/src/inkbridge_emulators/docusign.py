"""A DocuSign emulator: the OAuth JWT grant, the eSignature endpoints inkbridge calls, an
embedded signing page, and Connect (JSON SIM) webhooks signed like DocuSign signs them.

Endpoints (``acc`` is the configured account id):

- ``POST /oauth/token`` JWT-bearer grant; checks the assertion (its RS256 signature too when a
  public key is configured) and returns ``access_token``/``expires_in``
- ``POST /restapi/v2.1/accounts/{acc}/envelopes`` create (and send) an envelope
- ``POST /restapi/v2.1/accounts/{acc}/envelopes/{id}/views/recipient`` an embedded signing URL
- ``GET /restapi/v2.1/accounts/{acc}/envelopes/{id}`` status (``?include=recipients,...``)
- ``GET /restapi/v2.1/accounts/{acc}/envelopes/{id}/documents/combined`` the PDF
- ``GET /signing/{token}`` the single-use signing page; ``POST /signing/{token}/sign|decline``
- ``POST /_emulator/envelopes/{id}/{view|sign|decline|void|expire|bounce}`` test control,
  JSON body optional: ``{"recipientId": "1", "reason": "..."}``

With ``schema_dir`` (the folder holding DocuSign's ``esignature.rest.swagger-v2.json`` and
``connect.schema-v2.json``), request bodies are validated against the published definitions
(a misspelled field is refused, where DocuSign would ignore it) and every Connect message is
checked against the published message shape before it is queued.

Each Connect message is built once; every delivery attempt re-renders it with the attempt's
``retryCount`` and signs those exact bytes with each key (``X-DocuSign-Signature-1..N``).
Standalone, the app's lifespan starts the emitter; otherwise call ``app.state.emulator.start()``.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inkbridge.errors import ConfigError
from inkbridge.vendor_http.vendor_signatures import docusign_signature
from inkbridge_emulators.docusign_api import DocuSignApi
from inkbridge_emulators.docusign_state import (
    Emitted,
    Envelope,
    apply_action,
    connect_message,
    ds_time,
)
from inkbridge_emulators.emitter import Build, EmitsWebhooks, Emitter
from inkbridge_emulators.faults import Chaos
from inkbridge_emulators.process import ProviderProcess
from inkbridge_emulators.vendor_schemas import (
    SchemaValidator,
    sample_message,
    swagger_definition,
)

SWAGGER_FILE = "esignature.rest.swagger-v2.json"
CONNECT_FILE = "connect.schema-v2.json"

# Credentials of a process run (``--<name>`` overrides): the emulator is for tests and local runs.
# Left empty, the JWT grant's integration key (iss), user (sub) or signature (a public key
# file, PEM) is not checked; given, a grant that does not match is refused like DocuSign's.
DEV_CREDENTIALS = {
    "connect_key": "docusign-dev-connect-key",
    "account_id": "acc-1",
    "integration_key": "",
    "user_id": "",
    "public_key_file": "",
}


class DocuSignEmulator(EmitsWebhooks):
    """In-memory DocuSign: envelopes, access tokens, signing sessions and the Connect emitter."""

    def __init__(
        self,
        *,
        connect_url: str | None,
        connect_keys: Sequence[str],
        account_id: str,
        schema_dir: Path | None,
        chaos: Chaos | None,
        client: httpx.AsyncClient | None,
        user_id: str | None = None,
        integration_key: str | None = None,
        public_key_pem: str | None = None,
        audience: str | None = None,
        templates: Mapping[str, Sequence[str]] | None = None,
        token_ttl_seconds: int = 3600,
        configuration_id: int = 10501234,
        max_attempts: int = 20,
        retry_base_seconds: float = 0.05,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.connect_url = connect_url
        self._keys = list(connect_keys)
        self.account_id = account_id
        self.user_id = user_id
        self.integration_key = integration_key
        self.public_key_pem = public_key_pem
        self.audience = audience
        self.templates = {k: tuple(v) for k, v in (templates or {}).items()}
        self.token_ttl_seconds = token_ttl_seconds
        self.configuration_id = configuration_id
        self.clock = clock or (lambda: datetime.now(UTC))
        self.envelopes: dict[str, Envelope] = {}
        self.tokens: dict[str, datetime] = {}  # access token -> end of life
        self.tokens_issued = 0
        self.messages: list[dict[str, Any]] = []  # every Connect message as first rendered
        self.emitter = Emitter(
            client=client,
            chaos=chaos or Chaos(),
            max_attempts=max_attempts,
            retry_base_seconds=retry_base_seconds,
        )
        self.validators: dict[str, SchemaValidator] = {}
        if schema_dir is not None:
            self._load_schemas(schema_dir)

    def __repr__(self) -> str:
        return f"DocuSignEmulator(account_id={self.account_id!r}, keys={len(self._keys)})"

    def _load_schemas(self, schema_dir: Path) -> None:
        swagger, connect = schema_dir / SWAGGER_FILE, schema_dir / CONNECT_FILE
        for path in (swagger, connect):
            if not path.is_file():
                raise ConfigError(f"DocuSign schema file not found: {path}")
        for name in ("envelopeDefinition", "recipientViewRequest"):
            self.validators[name] = swagger_definition(swagger, name)
        self.validators["connect"] = sample_message(connect)

    def revoke_tokens(self) -> None:
        """Make every issued access token invalid, as a key rotation or logout would."""
        self.tokens.clear()

    def token_is_valid(self, token: str) -> bool:
        ends = self.tokens.get(token)
        return ends is not None and self.clock() < ends

    def issue_token(self) -> tuple[str, int]:
        token = secrets.token_urlsafe(32)
        self.tokens[token] = self.clock() + timedelta(seconds=self.token_ttl_seconds)
        self.tokens_issued += 1
        return token, self.token_ttl_seconds

    def new_envelope_id(self) -> str:
        return str(uuid.uuid4())

    def act(
        self,
        envelope: Envelope,
        action: str,
        *,
        recipient_id: str | None = None,
        reason: str | None = None,
    ) -> Emitted:
        """Apply a test-control or signing-page action and emit what it caused."""
        events = apply_action(
            envelope, action, self.clock(), recipient_id=recipient_id, reason=reason
        )
        self.publish(envelope, events)
        return events

    def publish(self, envelope: Envelope, events: Emitted) -> None:
        """Render one Connect message per event and queue its delivery."""
        base = self.clock()
        for offset, (event, recipient) in enumerate(events):
            message = connect_message(
                envelope,
                event,
                recipient,
                user_id=self.user_id or "emulated-user",
                configuration_id=self.configuration_id,
                generated_at=ds_time(base + timedelta(microseconds=offset)),
            )
            connect = self.validators.get("connect")
            problems = connect.problems(message) if connect is not None else []
            if problems:
                # Our bug, not the caller's: fail loudly, never send what DocuSign would not.
                raise RuntimeError(f"emulated Connect message off the published shape: {problems}")
            self.messages.append(message)
            if self.connect_url is not None:
                self.emitter.emit(self._delivery(self.connect_url, message))

    def _delivery(self, url: str, message: dict[str, Any]) -> Build:
        attempts = 0

        def build() -> tuple[str, dict[str, str], bytes]:
            nonlocal attempts
            # DocuSign counts redeliveries in the body, so each attempt has new bytes to sign.
            body = json.dumps({**message, "retryCount": attempts}, separators=(",", ":")).encode()
            attempts += 1
            headers = {"Content-Type": "application/json", "User-Agent": "DocuSign Connect"}
            for number, key in enumerate(self._keys, start=1):
                headers[f"X-DocuSign-Signature-{number}"] = docusign_signature(key, body)
            return url, headers, body

        return build


def create_docusign_emulator(
    *,
    connect_url: str | None,
    connect_keys: list[str],
    account_id: str = "acc-1",
    schema_dir: Path | None = None,
    chaos: Chaos | None = None,
    client: httpx.AsyncClient | None = None,
    user_id: str | None = None,
    integration_key: str | None = None,
    public_key_pem: str | None = None,
    audience: str | None = None,
    templates: Mapping[str, Sequence[str]] | None = None,
    token_ttl_seconds: int = 3600,
    max_attempts: int = 20,
    retry_base_seconds: float = 0.05,
    clock: Callable[[], datetime] | None = None,
) -> Starlette:
    """The emulator as an ASGI app; its ``DocuSignEmulator`` is ``app.state.emulator``.

    ``user_id``/``integration_key`` pin the JWT's ``sub``/``iss`` when given; ``public_key_pem``
    turns on RS256 signature checks; ``audience`` defaults to the host each token request came
    to; ``templates`` (template id -> role names) makes unknown templates and roles an error.
    """
    emulator = DocuSignEmulator(
        connect_url=connect_url,
        connect_keys=connect_keys,
        account_id=account_id,
        schema_dir=schema_dir,
        chaos=chaos,
        client=client,
        user_id=user_id,
        integration_key=integration_key,
        public_key_pem=public_key_pem,
        audience=audience,
        templates=templates,
        token_ttl_seconds=token_ttl_seconds,
        max_attempts=max_attempts,
        retry_base_seconds=retry_base_seconds,
        clock=clock,
    )
    api = DocuSignApi(emulator)
    prefix = "/restapi/v2.1/accounts/{account_id}/envelopes"

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await emulator.start()
        try:
            yield
        finally:
            await emulator.stop()

    async def health(_: Request) -> Response:
        return JSONResponse({"ok": True})

    app = Starlette(
        routes=[
            Route("/oauth/token", api.token, methods=["POST"]),
            Route("/restapi/v2.1/accounts/{account_id}", api.get_account, methods=["GET"]),
            Route(prefix, api.create_envelope, methods=["POST"]),
            Route(prefix + "/{envelope_id}", api.get_envelope, methods=["GET"]),
            Route(prefix + "/{envelope_id}/views/recipient", api.recipient_view, methods=["POST"]),
            Route(
                prefix + "/{envelope_id}/documents/combined",
                api.combined_document,
                methods=["GET"],
            ),
            Route("/signing/{token}", api.signing_page, methods=["GET"]),
            Route("/signing/{token}/{outcome}", api.signing_outcome, methods=["POST"]),
            Route("/_emulator/envelopes/{envelope_id}/{action}", api.control, methods=["POST"]),
            Route("/_emulator/health", health, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.emulator = emulator
    return app


def _docusign_for_process(
    *,
    connect_url: str,
    connect_key: str,
    account_id: str,
    integration_key: str,
    user_id: str,
    public_key_file: str,
) -> Starlette:
    public_key = Path(public_key_file).read_text() if public_key_file else None
    return create_docusign_emulator(
        connect_url=connect_url,
        connect_keys=[connect_key],
        account_id=account_id,
        integration_key=integration_key or None,
        user_id=user_id or None,
        public_key_pem=public_key,
    )


# ``python -m inkbridge_emulators.docusign --webhook-url URL [--port N]``
PROCESS = ProviderProcess(_docusign_for_process, "DocuSign", 8120, "connect_url", DEV_CREDENTIALS)

if __name__ == "__main__":
    PROCESS.main()
