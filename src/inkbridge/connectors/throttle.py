"""Client-side rate limiting per destination, at the level of HTTP requests: a connector may
make several calls per batch (read, upsert, associate), and every one counts against the
vendor's quota. A token bucket sized so that no rolling window ever holds more than the limit,
paused by the vendor's ``Retry-After``. The bucket is a ``RequestQuota``: this process's own
(``LocalQuota``) or one every worker process shares (``services.destination_quota``)."""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

import httpx

from inkbridge import metrics
from inkbridge.domain.delivery_policy import TokenBucket
from inkbridge.vendor_http.responses import retry_after


def bucket_for(requests: int, window_seconds: float) -> TokenBucket:
    """A bucket that admits at most ``requests`` in any ``window_seconds``: burst + rate·window
    never exceeds the limit."""
    burst = max(1.0, float(requests // 10))
    rate = max(0.001, (requests - burst) / window_seconds)
    return TokenBucket(rate=rate, burst=burst, updated_at=time.monotonic())


# (remaining header, reset header, unit of the reset value): HubSpot, and the common spelling.
QUOTA_HEADERS = (
    ("x-hubspot-ratelimit-remaining", "x-hubspot-ratelimit-interval-milliseconds", 0.001),
    ("x-ratelimit-remaining", "x-ratelimit-reset", 1.0),
)


def quota_remaining(response: httpx.Response) -> int | None:
    """Requests the vendor says are left in its window, when its answer says so."""
    for remaining_name, _reset_name, _unit in QUOTA_HEADERS:
        remaining = (response.headers.get(remaining_name) or "").strip()
        if remaining.isdigit():
            return int(remaining)
    return None


def quota_exhausted_for(response: httpx.Response) -> float | None:
    """Seconds to wait when the vendor reports no requests left in its window, else None."""
    for remaining_name, reset_name, unit in QUOTA_HEADERS:
        remaining = response.headers.get(remaining_name)
        if remaining is None or remaining.strip() != "0":
            continue
        try:
            reset = float(response.headers.get(reset_name, "1")) * unit
        except ValueError:
            reset = 1.0
        # A reset given as a Unix time rather than a delay: never wait longer than a minute.
        return max(0.0, min(reset, 60.0))
    return None


class RequestQuota(Protocol):
    """A destination's request budget: wait for one request's share; pause on the vendor's word."""

    async def acquire(self) -> None: ...

    async def pause(self, seconds: float) -> None: ...


class LocalQuota:
    """A budget this process keeps to itself (one process, or no database to share it in)."""

    def __init__(self, bucket: TokenBucket) -> None:
        self.bucket = bucket

    async def acquire(self) -> None:
        while (wait := self.bucket.wait_time(time.monotonic())) > 0:
            await asyncio.sleep(wait)
        self.bucket.take(time.monotonic())

    async def pause(self, seconds: float) -> None:
        self.bucket.pause(time.monotonic(), seconds)


class ThrottledTransport(httpx.AsyncBaseTransport):
    """Waits for the quota before each request; a 429 pauses every later request."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        quota: TokenBucket | RequestQuota,
        destination: str | None = None,
    ) -> None:
        self._inner = inner
        self.quota = LocalQuota(quota) if isinstance(quota, TokenBucket) else quota
        # Named, the quota the vendor reports is published as a gauge for that destination (no
        # series until a vendor reports one: a 0 would read as a quota spent).
        self._destination = destination
        self._lock = asyncio.Lock()
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        # One waiter at a time: this process's requests queue here, in order, rather than
        # racing each other (and other processes) for the next token.
        async with self._lock:
            await self.quota.acquire()
            self.requests += 1
        response = await self._inner.handle_async_request(request)
        if self._destination and (left := quota_remaining(response)) is not None:
            metrics.QUOTA_REMAINING.labels(self._destination).set(left)
        if response.status_code == 429:
            pause = retry_after(response)
            await self.quota.pause(pause if pause is not None else 1.0)
        elif (exhausted := quota_exhausted_for(response)) is not None:
            # The vendor says the window is spent before we think so (another client shares the
            # quota): wait for its reset instead of running into a 429.
            await self.quota.pause(exhausted)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
