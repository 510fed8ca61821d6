"""One vendor quota across every worker process: a destination's request budget kept in the
database (``store.destination_quota``), so K workers together never send more than the
configured ``rate_limit_requests`` per ``rate_limit_window_seconds``, and a 429 one of them
receives pauses them all.

Why a shared bucket rather than a per-destination lease (one sender at a time): every worker
keeps sending, so a destination's throughput does not hang on one process's batches; a worker
that dies holds nothing (a lease would stall the destination until it expired); and the cost is
one short row-locked transaction per vendor request, which a vendor quota (tens of requests a
second at most) keeps small. Fairness: a worker refused a token sleeps until the bucket's next
one, with a little jitter so the workers do not wake in step; whoever asks first then wins.
"""

from __future__ import annotations

import asyncio
import random

from inkbridge.connectors.throttle import bucket_for
from inkbridge.domain.delivery_policy import TokenBucket
from inkbridge.store import destination_quota
from inkbridge.store.database import RegionDatabase

# The bucket's clock is the database's, the vendor's is its own: requests taken by different
# processes reach the vendor after different delays (a busy host, a slow connection), so the
# budget is spread over a slightly longer window than the vendor counts.
ARRIVAL_SLACK_SECONDS = 0.5


class SharedQuota:
    """A destination's request budget, shared through ``db`` by every process using it."""

    def __init__(self, db: RegionDatabase, destination: str, bucket: TokenBucket) -> None:
        self._db = db
        self.destination = destination
        self.rate = bucket.rate
        self.burst = bucket.burst

    @classmethod
    def for_limit(
        cls, db: RegionDatabase, destination: str, requests: int, window_seconds: float
    ) -> SharedQuota:
        """At most ``requests`` in any ``window_seconds`` as the vendor counts them."""
        return cls(db, destination, bucket_for(requests, window_seconds + ARRIVAL_SLACK_SECONDS))

    def try_take(self) -> float:
        """Spend one request now: 0.0 when spent, else the seconds to wait before asking."""
        with self._db.transaction(urgent=True) as conn:
            return destination_quota.take(conn, self.destination, rate=self.rate, burst=self.burst)

    def hold(self, seconds: float) -> None:
        """Pause every process's requests to the destination for ``seconds``."""
        with self._db.transaction(urgent=True) as conn:
            destination_quota.pause(
                conn, self.destination, rate=self.rate, burst=self.burst, seconds=seconds
            )

    async def acquire(self) -> None:
        while (wait := await asyncio.to_thread(self.try_take)) > 0:
            jitter = random.uniform(0.0, min(0.05, wait / 4))  # noqa: S311 - jitter, not crypto
            await asyncio.sleep(wait + jitter)

    async def pause(self, seconds: float) -> None:
        await asyncio.to_thread(self.hold, seconds)
