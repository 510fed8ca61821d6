"""HubSpot's rate-limit headers as last seen, and how long to wait after a 429 without
``Retry-After``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx


@dataclass
class RateLimits:
    """The last ``X-HubSpot-RateLimit-*`` values seen; the engine paces itself on them."""

    max: int | None = None
    remaining: int | None = None
    interval_ms: int | None = None
    daily_remaining: int | None = None

    def observe(self, headers: httpx.Headers) -> None:
        def number(name: str) -> int | None:
            try:
                return int(headers[name])
            except (KeyError, ValueError):
                return None

        if (remaining := number("x-hubspot-ratelimit-remaining")) is not None:
            self.remaining = remaining
            self.max = number("x-hubspot-ratelimit-max") or self.max
            self.interval_ms = (
                number("x-hubspot-ratelimit-interval-milliseconds") or self.interval_ms
            )
        if (daily := number("x-hubspot-ratelimit-daily-remaining")) is not None:
            self.daily_remaining = daily

    def wait_for(self, policy: str | None) -> float:
        """How long to wait after a 429 that carried no ``Retry-After``."""
        if policy == "DAILY" or self.daily_remaining == 0:
            # HubSpot resets the daily count at midnight in the account's time zone, which we
            # do not know: wait until the next UTC midnight, at most a day.
            now = datetime.now(UTC)
            midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
            return (midnight - now).total_seconds()
        return (self.interval_ms or 10_000) / 1000.0
