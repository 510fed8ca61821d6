"""Request budgets of the public capture endpoint: token buckets per client IP and per
publishable key, kept in process memory. Memory stays bounded: a bucket idle long enough to be
full again is the same as no bucket and is dropped, and past ``max_buckets`` the least recently
used one goes too (its owner merely starts again with a full budget).

With several API processes each keeps its own buckets, so the budget a client really gets is
the configured one times the number of processes."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from inkbridge.config import CaptureSettings
from inkbridge.errors import RateLimited


@dataclass
class _Bucket:
    tokens: float
    at: float  # clock reading of the last refill


class TokenBuckets:
    """Buckets of ``capacity`` tokens refilled at ``capacity`` per ``period`` seconds, by name.
    A take either spends one token or answers how many seconds until one is there."""

    def __init__(
        self,
        *,
        max_buckets: int,
        period: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_buckets = max_buckets
        self.period = period
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, name: str, capacity: int) -> int | None:
        """Spend a token from ``name``'s bucket: None when admitted, else the whole seconds to
        wait (at least 1) before a token is there."""
        rate = capacity / self.period
        with self._lock:
            now = self.clock()
            bucket = self._buckets.pop(name, None)
            if bucket is None:
                bucket = _Bucket(tokens=float(capacity), at=now)
            else:
                bucket.tokens = min(float(capacity), bucket.tokens + (now - bucket.at) * rate)
                bucket.at = now
            self._buckets[name] = bucket  # most recently used last
            self._evict(now)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return None
            return max(1, math.ceil((1.0 - bucket.tokens) / rate))

    def _evict(self, now: float) -> None:
        # The least recently used come first; one that has waited a whole period is full again.
        while self._buckets:
            oldest = next(iter(self._buckets.values()))
            if now - oldest.at >= self.period or len(self._buckets) > self.max_buckets:
                self._buckets.popitem(last=False)
            else:
                break


class CaptureLimits:
    """The capture endpoint's two budgets: per client IP, and per publishable key (the key's own
    rate, else the configured default)."""

    def __init__(
        self, settings: CaptureSettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings
        self.by_ip = TokenBuckets(max_buckets=settings.max_tracked_clients, clock=clock)
        self.by_key = TokenBuckets(max_buckets=settings.max_tracked_clients, clock=clock)

    def admit_ip(self, ip: str | None) -> None:
        wait = self.by_ip.take(ip or "unknown", self.settings.rate_per_minute_per_ip)
        if wait is not None:
            raise RateLimited(limit="ip", retry_after=wait)

    def admit_key(self, key_id: str, rate_per_minute: int | None) -> None:
        rate = rate_per_minute or self.settings.rate_per_minute_per_key
        wait = self.by_key.take(key_id, rate)
        if wait is not None:
            raise RateLimited(limit="key", retry_after=wait)
