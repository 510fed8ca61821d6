"""The shapes every provider adapter has: an inbound half (verify, dedup key, ack, parse) used by
the webhook hot path and the worker, and an outbound half (create, embed, fetch status)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from inkbridge.domain.events import NormalizedEvent


@dataclass(frozen=True)
class InboundRequest:
    """A webhook request as received: raw bytes and lower-cased header names."""

    connection: str
    method: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    received_at: datetime

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class Acknowledgement:
    """What the provider expects back once a delivery is durably stored."""

    status: int = 200
    body: bytes = b""
    media_type: str = "text/plain"
    headers: Mapping[str, str] = field(default_factory=dict)


class EventSource(Protocol):
    """What the worker needs of where a receipt came from: how to read it and how far to trust
    it. Webhook adapters are event sources; so is the reconciler's status report.

    The capabilities carry defaults, inherited by the classes that subclass this protocol."""

    # A report from the provider's API: a terminal state in it settles the envelope.
    authoritative: bool = False
    # The vendor's signature does not cover the body: a terminal claim waits until the
    # provider's API confirms it (Dropbox Sign).
    terminal_needs_confirmation: bool = False

    def parse(self, request: InboundRequest) -> list[NormalizedEvent]: ...


class WebhookAdapter(EventSource, Protocol):
    """The inbound half of a provider. Must be cheap: it runs on the hot path.

    ``verify`` raises ``SignatureInvalid``; ``dedup_key`` and ``parse`` raise
    ``MalformedPayload``. ``parse`` runs in the worker, never in the request.
    """

    provider: str
    content_types: frozenset[str]
    # Header names that must not be stored with a receipt (signatures, secrets).
    secret_headers: frozenset[str]

    def verify(self, request: InboundRequest) -> None: ...

    def dedup_key(self, request: InboundRequest) -> str: ...

    def acknowledge(self, request: InboundRequest) -> Acknowledgement:
        """The answer once a delivery is stored; by default a bare 200, which every vendor
        without an answer format of its own takes as delivered."""
        return Acknowledgement(status=200)

    def verify_registration(self, request: InboundRequest) -> Acknowledgement | None:
        """The answer to the registration ``GET`` some providers make before they deliver
        (raises ``SignatureInvalid`` for a stranger); None: this provider makes no such call."""
        return None


@dataclass(frozen=True)
class Signer:
    """One recipient of an envelope."""

    email: str
    name: str
    recipient_id: str = "1"


@dataclass(frozen=True)
class EnvelopeSpec:
    """What inkbridge asks a provider to create and send."""

    envelope_id: str  # inkbridge's id, carried in the provider's metadata slot
    template_id: str
    title: str
    signers: tuple[Signer, ...]
    metadata: Mapping[str, str]
    merge_fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SignerAuthentication:
    """Who vouched for the signer and which browser opened the session, handed to the provider
    with the request for its embedded signing URL.

    ``method`` is one of ``domain.signer_session.AuthMethod``; ``binding`` is the SHA-256 (hex)
    of the signer cookie inkbridge set in that browser. Vendors that can record the
    authentication (DocuSign) do; the sandbox admits only the bound browser; others ignore it.
    """

    method: str
    authenticated_at: datetime
    binding: str


@dataclass(frozen=True)
class SigningRequest:
    """What inkbridge asks a provider for when it wants one signer's embedded signing URL.

    ``return_url`` is where the provider sends the browser after signing (vendors that fix the
    redirect at creation ignore it); ``authentication`` is set when the request comes from a
    signer session."""

    provider_envelope_id: str
    signer: Signer
    return_url: str | None = None
    authentication: SignerAuthentication | None = None


@dataclass(frozen=True)
class CreatedEnvelope:
    provider_envelope_id: str
    status: str


class ProviderClient(Protocol):
    """The outbound half of a provider.

    ``fetch_status`` returns the provider's own account of the envelope as normalized events
    (at least its current status with the time it was reached); reconciliation treats a terminal
    state in it as authoritative. ``min_poll_interval_seconds`` is the vendor's polling rule.

    ``download_document`` streams the envelope's signed PDF (all its documents combined where
    the vendor can) from the vendor's API, as chunks: nothing is kept, and inkbridge hands it on
    only through its audited document route. Failures raise ``RetryableError`` or
    ``PermanentError`` (``vendor_http.downloads``), before the first chunk where they can.
    """

    provider: str
    min_poll_interval_seconds: float

    async def create_envelope(self, spec: EnvelopeSpec) -> CreatedEnvelope: ...

    async def signing_url(self, request: SigningRequest) -> str: ...

    async def fetch_status(self, provider_envelope_id: str) -> list[NormalizedEvent]: ...

    def download_document(self, provider_envelope_id: str) -> AsyncIterator[bytes]: ...
