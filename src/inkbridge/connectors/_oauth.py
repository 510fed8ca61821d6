"""OAuth plumbing the CRM connectors share: one token request, classified like any other vendor
call, and a cache that keeps a grant until shortly before it ends.

The cache holds one lock so concurrent batches share one exchange instead of stampeding the
token endpoint, and ``invalidate`` drops only the grant the vendor refused, so a newer one
fetched meanwhile by another batch survives.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Generic, TypeVar

import httpx

from inkbridge.connectors.http_errors import transport_failure
from inkbridge.errors import PermanentError, RetryableError

T = TypeVar("T")

# Refresh this long before a grant's end (at most half its life), so that no request starts
# with a token about to die.
REFRESH_MARGIN_SECONDS = 300.0


class GrantCache(Generic[T]):
    """A grant (a token, or a token with its instance URL) from ``fetch``, which returns the
    grant and its lifetime in seconds."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[tuple[T, float]]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._grant: T | None = None
        self._valid_until = 0.0
        self._lock = asyncio.Lock()
        self.exchanges = 0  # how many grants were fetched; tests read it

    def __repr__(self) -> str:
        # Never the grant itself: reprs end up in tracebacks and logs.
        return f"GrantCache(cached={self._grant is not None})"

    def _fresh(self) -> T | None:
        return self._grant if self._clock() < self._valid_until else None

    async def get(self) -> T:
        grant = self._fresh()
        if grant is not None:
            return grant
        async with self._lock:
            # Another caller may have fetched while this one waited for the lock.
            grant = self._fresh()
            if grant is not None:
                return grant
            grant, lifetime = await self._fetch()
            self.exchanges += 1
            self._grant = grant
            self._valid_until = self._clock() + lifetime - min(REFRESH_MARGIN_SECONDS, lifetime / 2)
            return grant

    def invalidate(self, grant: T) -> None:
        """Forget ``grant`` after the vendor refused it."""
        if self._grant == grant:
            self._grant, self._valid_until = None, 0.0


async def request_token(
    client: httpx.AsyncClient,
    url: str,
    form: Mapping[str, str],
    *,
    label: str,
    timeout: float,
) -> dict[str, Any]:
    """POST a token request and return its JSON body, which holds an ``access_token``.

    Transport errors, 429 and 5xx are retryable; any other refusal is permanent (a revoked
    secret does not heal) and names the OAuth error code, never the description.
    """
    try:
        response = await client.post(url, data=dict(form), timeout=timeout)
    except httpx.HTTPError as exc:
        raise transport_failure(label, exc) from exc
    try:
        body = response.json()
    except ValueError:
        body = None
    body = body if isinstance(body, dict) else {}
    status = response.status_code
    if status == 429 or status >= 500:
        raise RetryableError(f"{label} answered {status}")
    if status >= 300:
        # RFC 6749 names the failure in 'error'; HubSpot in 'status' (BAD_REFRESH_TOKEN).
        code = next(
            (v for k in ("error", "status") if isinstance(v := body.get(k), str) and len(v) <= 60),
            "unknown",
        )
        raise PermanentError(f"{label} answered {status} ({code})")
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise PermanentError(f"{label} answered without an access_token")
    return body


def lifetime(body: Mapping[str, Any], default: float) -> float:
    """``expires_in`` of a token answer, in seconds."""
    value = body.get("expires_in")
    try:
        return float(value) if value is not None else default
    except (TypeError, ValueError):
        return default
