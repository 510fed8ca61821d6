"""Signed documents: the one audited path from a provider's API to whoever holds a pointer.

inkbridge stores no document. CRMs and marketing tools receive ``document_url``, a pointer to
``/v1/envelopes/{id}/document`` (``document_path``); opening it streams the signed PDF from the
envelope's provider through that connection's client, chunk by chunk. Every access to a known
envelope is one audit entry (``api:envelope:document_accessed``) naming the token, the
envelope, its correlation id, the outcome and the bytes streamed: refusals (not completed, no
provider API), provider failures and interrupted streams included.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from inkbridge.errors import InkbridgeError, PermanentError, RetryableError, StateConflict
from inkbridge.providers.base import ProviderClient
from inkbridge.services.envelopes import find_envelope
from inkbridge.store import audit
from inkbridge.store.database import Databases, RegionDatabase

DOCUMENT_ACCESSED = "api:envelope:document_accessed"
# Only a completed envelope has a signed document; before, a provider hands out a draft.
SIGNED_STATE = "completed"


def document_path(envelope_id: str) -> str:
    """The route an envelope's signed document is served at, relative to the server."""
    return f"/v1/envelopes/{envelope_id}/document"


def document_url(base_url: str, envelope_id: str) -> str:
    """The pointer outbound records carry instead of the document."""
    return base_url.rstrip("/") + document_path(envelope_id)


@dataclass(frozen=True)
class _Subject:
    """The envelope an access is about, as its audit entry names it."""

    db: RegionDatabase
    envelope_id: str
    correlation_id: str | None
    connection: str


@dataclass(frozen=True)
class _Located:
    subject: _Subject
    provider_envelope_id: str
    client: ProviderClient


@dataclass(frozen=True)
class DocumentStream:
    """An open signed document: iterate ``chunks`` to the end (or close it) exactly once; the
    audit entry is written when it finishes."""

    envelope_id: str
    chunks: AsyncIterator[bytes]

    @property
    def filename(self) -> str:
        return f"{self.envelope_id}.pdf"


@dataclass(frozen=True)
class Documents:
    """Streams signed documents from providers; built once by bootstrap with the regions'
    databases and the connections' API clients."""

    databases: Databases
    providers: Mapping[str, ProviderClient]

    async def open_document(self, envelope_id: str, actor: str) -> DocumentStream:
        """The signed PDF of ``envelope_id``, its first chunk already fetched so that a refused
        or failed fetch raises here (``NotFound``, ``StateConflict``, ``RetryableError``,
        ``PermanentError``), before any answer is started."""
        located = await asyncio.to_thread(self._locate, envelope_id, actor)
        chunks = located.client.download_document(located.provider_envelope_id)
        try:
            first = await anext(chunks)
        except StopAsyncIteration:  # a client that ends without a PDF's first bytes
            failure: InkbridgeError = PermanentError("the provider answered an empty document")
            await self._audit_async(located.subject, actor, "provider_failed", 0, str(failure))
            raise failure from None
        except (RetryableError, PermanentError) as exc:
            await self._audit_async(located.subject, actor, "provider_failed", 0, exc.reason)
            raise
        return DocumentStream(envelope_id, self._relay(located, actor, first, chunks))

    def _locate(self, envelope_id: str, actor: str) -> _Located:
        db, row = find_envelope(self.databases, envelope_id)
        subject = _Subject(db, envelope_id, row.correlation_id, row.connection)
        client = self.providers.get(row.connection)
        if row.state != SIGNED_STATE:
            self._audit(subject, actor, "not_completed", 0, None)
            raise StateConflict("envelope", envelope_id, f"{row.state}, not signed yet")
        if client is None or row.provider_envelope_id is None:
            self._audit(subject, actor, "no_provider_api", 0, None)
            raise StateConflict("envelope", envelope_id, "not fetchable: no provider API")
        return _Located(subject, row.provider_envelope_id, client)

    async def _relay(
        self, located: _Located, actor: str, first: bytes, rest: AsyncIterator[bytes]
    ) -> AsyncIterator[bytes]:
        sent = 0
        outcome, reason = "interrupted", None  # the caller went away, or the server stopped
        try:
            # Counted when handed to the response: the server is sending it.
            sent += len(first)
            yield first
            async for chunk in rest:
                sent += len(chunk)
                yield chunk
            outcome = "streamed"
        except (RetryableError, PermanentError) as exc:
            outcome, reason = "provider_failed", exc.reason
            raise
        finally:
            closing = getattr(rest, "aclose", None)
            if closing is not None:
                await closing()
            # Shielded: a cancelled response (the caller disconnected) still leaves its entry.
            await asyncio.shield(self._audit_async(located.subject, actor, outcome, sent, reason))

    async def _audit_async(
        self, subject: _Subject, actor: str, outcome: str, sent: int, reason: str | None
    ) -> None:
        await asyncio.to_thread(self._audit, subject, actor, outcome, sent, reason)

    def _audit(
        self, subject: _Subject, actor: str, outcome: str, sent: int, reason: str | None
    ) -> None:
        details: dict[str, Any] = {
            "outcome": outcome,
            "bytes": sent,
            "connection": subject.connection,
        }
        if reason is not None:
            details["reason"] = reason  # a status and a vendor's short code, never free text
        with subject.db.transaction() as conn:
            audit.record(
                conn,
                region=subject.db.region,
                actor=actor,
                action=DOCUMENT_ACCESSED,
                subject_id=subject.envelope_id,
                correlation_id=subject.correlation_id,
                details=details,
            )
