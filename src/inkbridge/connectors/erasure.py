"""Erasure at a destination: the ``lead.erased`` changes of a batch go to the vendor's
``Eraser`` (one erasure call, or a lookup and a delete, per person), every other change to the
vendor's connector, unchanged.

An erasure succeeds when the person is gone afterwards: a vendor answering 404 or 410 for them
(already deleted, by an earlier attempt whose answer was lost, or by hand) counts as done, so a
retry after a timeout never turns into a failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import httpx

from inkbridge.connectors.base import (
    BatchResult,
    Change,
    ChangeResult,
    Connector,
    ConnectorWrapper,
)
from inkbridge.connectors.kinds import LEAD_ERASED
from inkbridge.errors import PermanentError, RetryableError
from inkbridge.vendor_http.responses import body_error_code, raise_for_status, send

# The person (or the record naming them) is not there: nothing left to erase.
GONE_STATUSES = frozenset({404, 410})


class Eraser(Protocol):
    """One vendor's erasure call; raises ``RetryableError``/``PermanentError`` on failure."""

    async def erase(self, change: Change) -> None: ...


def erased_or_gone(vendor: str, response: httpx.Response) -> None:
    """Return quietly on 2xx, 404 and 410; else raise what the retry policy acts on."""
    if response.status_code in GONE_STATUSES:
        return
    raise_for_status(vendor, response, body_error_code(response))


def erasure_identifiers(change: Change) -> tuple[str, str | None]:
    """The lead id and email a ``lead.erased`` change names; PermanentError without a lead
    id (nothing could ever find the person)."""
    lead = change.record.lead_or_empty
    if not lead.id:
        raise PermanentError("the erasure change names no lead")
    return lead.id, lead.email


def erasure_email(change: Change, vendor_finds: str) -> str:
    """The email a ``lead.erased`` change names, for a vendor that finds people by email
    (``vendor_finds``: "HubSpot finds contacts"); PermanentError when it names none."""
    _, email = erasure_identifiers(change)
    if not email:
        raise PermanentError(f"{vendor_finds} by email: the erasure names none")
    return email


class HttpEraser:
    """What the erasers that send one request per record share: the vendor's name, the
    connector's HTTP client and auth, its timeout and fixed headers (none left unset)."""

    def __init__(
        self,
        name: str,
        client: httpx.AsyncClient,
        *,
        auth: httpx.Auth | None = None,
        timeout: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._name = name
        self._client = client
        # Only what is set is passed on: the client's own defaults stay for the rest.
        self._options: dict[str, Any] = {
            key: value
            for key, value in (("auth", auth), ("timeout", timeout), ("headers", headers))
            if value is not None
        }

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return await send(self._client, self._name, method, url, **self._options, **kwargs)

    async def _delete_record(self, method: str, url: str, **kwargs: Any) -> None:
        """One erasure request; 2xx, 404 and 410 all mean the record is gone."""
        erased_or_gone(self._name, await self._send(method, url, **kwargs))


class ErasingConnector(ConnectorWrapper):
    """A vendor's connector with its erasures: ``lead.erased`` changes go to ``eraser`` after
    the other changes of the batch (so a person written in the same batch is deleted last)."""

    def __init__(self, connector: Connector, eraser: Eraser) -> None:
        super().__init__(connector)
        self.eraser = eraser

    async def apply(self, changes: Sequence[Change]) -> BatchResult:
        erasures = [c for c in changes if c.kind == LEAD_ERASED]
        others = [c for c in changes if c.kind != LEAD_ERASED]
        results: dict[int, ChangeResult] = {}
        retry_after: float | None = None
        meta = {}
        if others:
            written = await self.connector.apply(others)
            results.update((r.outbox_id, r) for r in written.results)
            retry_after, meta = written.retry_after, dict(written.meta)
        for index, change in enumerate(erasures):
            try:
                await self.eraser.erase(change)
            except RetryableError as exc:
                if not others and not results:
                    raise  # nothing else happened: the whole call is retried (and paced)
                # The vendor is struggling: the rest waits for the next attempt.
                for waiting in erasures[index:]:
                    results[waiting.outbox_id] = ChangeResult(
                        waiting.outbox_id, ok=False, retryable=True, error=exc.reason
                    )
                retry_after = max(retry_after or 0.0, exc.retry_after or 0.0) or None
                break
            except PermanentError as exc:
                results[change.outbox_id] = ChangeResult(change.outbox_id, False, error=exc.reason)
            else:
                results[change.outbox_id] = ChangeResult(change.outbox_id, ok=True)
        ordered = [
            results.get(c.outbox_id) or ChangeResult(c.outbox_id, False, True, "no result")
            for c in changes
        ]
        return BatchResult(ordered, retry_after=retry_after, meta=meta)
