"""Delivery policy, pure: capped exponential backoff with jitter, the retry policy both queues
(inbox receipts and outbox rows) follow, a token bucket and a circuit breaker. Time is passed in,
so every rule is testable without sleeping."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


def backoff_seconds(
    attempt: int, base: float, cap: float, rng: random.Random | None = None
) -> float:
    """Delay before retry number ``attempt`` (1-based): equal jitter over a capped doubling."""
    ceiling = min(cap, base * 2.0 ** max(0, attempt - 1))
    draw = rng.random() if rng is not None else random.random()  # noqa: S311 - jitter, not crypto
    return ceiling / 2 + draw * ceiling / 2


@dataclass(frozen=True)
class RetryPolicy:
    """How a failed unit of work is retried: ``max_attempts`` in all, each retry after a capped,
    jittered doubling of ``base_seconds``. The inbox and the outbox differ only in the numbers."""

    max_attempts: int
    base_seconds: float
    cap_seconds: float

    def gives_up(self, attempt: int) -> bool:
        """Whether attempt number ``attempt`` (1-based, the one that just failed) was the last."""
        return attempt >= self.max_attempts

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after attempt number ``attempt`` failed."""
        return backoff_seconds(attempt, self.base_seconds, self.cap_seconds, rng)


# Receipts: ten attempts, waits doubling from about 2 s (after the first) up to five minutes.
RECEIPT_RETRY = RetryPolicy(max_attempts=10, base_seconds=2.0, cap_seconds=300.0)


@dataclass
class TokenBucket:
    """``rate`` tokens per second up to ``burst``; a vendor's ``Retry-After`` pauses it."""

    rate: float
    burst: float
    tokens: float = field(default=-1.0)
    updated_at: float = 0.0
    paused_until: float = 0.0

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.burst

    def _refill(self, now: float) -> None:
        if now > self.updated_at:
            self.tokens = min(self.burst, self.tokens + (now - self.updated_at) * self.rate)
            self.updated_at = now

    def wait_time(self, now: float, cost: float = 1.0) -> float:
        """Seconds until ``cost`` tokens are available (0 when they are now)."""
        self._refill(now)
        if now < self.paused_until:
            return self.paused_until - now
        if self.tokens >= cost:
            return 0.0
        return (cost - self.tokens) / self.rate

    def take(self, now: float, cost: float = 1.0) -> bool:
        if self.wait_time(now, cost) > 0:
            return False
        self.tokens -= cost
        return True

    def pause(self, now: float, seconds: float) -> None:
        self.paused_until = max(self.paused_until, now + seconds)
        self.tokens = 0.0


@dataclass
class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures; lets one trial through after ``cooldown``."""

    threshold: int = 5
    cooldown: float = 30.0
    failures: int = 0
    opened_at: float | None = None

    def allows(self, now: float) -> bool:
        if self.opened_at is None:
            return True
        return now - self.opened_at >= self.cooldown  # half-open: one trial batch

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None

    def record_failure(self, now: float) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            self.opened_at = now

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None
