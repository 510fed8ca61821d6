"""Webhooks per minute by connection and outcome over the last minutes, from the receipts every
region stored (right whichever process answers, unlike this process's own metrics).

The outcome is the receipt's status (done, ignored, failed, refused_residency, pending, …).
Deliveries refused before they were stored (a bad signature, a body too large) have no receipt:
only the metrics count them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from inkbridge.store import receipt_rates
from inkbridge.store.database import Databases

WINDOW_MINUTES = 15


@dataclass(frozen=True)
class OutcomeRate:
    connection: str
    outcome: str
    per_minute: tuple[int, ...]  # oldest minute first

    @property
    def total(self) -> int:
        return sum(self.per_minute)


@dataclass(frozen=True)
class WebhookRates:
    minutes: tuple[datetime, ...]  # each minute's start, oldest first; the last is under way
    rates: tuple[OutcomeRate, ...]  # by connection, then outcome

    def by_connection(self) -> dict[str, tuple[int, ...]]:
        """Every outcome of each connection added up, minute by minute."""
        summed: dict[str, list[int]] = {}
        for rate in self.rates:
            minutes = summed.setdefault(rate.connection, [0] * len(self.minutes))
            for i, count in enumerate(rate.per_minute):
                minutes[i] += count
        return {connection: tuple(counts) for connection, counts in summed.items()}


def window(now: datetime, minutes: int = WINDOW_MINUTES) -> tuple[datetime, ...]:
    """The starts of the last ``minutes`` whole minutes (the current one last), then its end."""
    current = now.astimezone(UTC).replace(second=0, microsecond=0)
    first = current - timedelta(minutes=minutes - 1)
    return tuple(first + timedelta(minutes=i) for i in range(minutes + 1))


def webhook_rates(
    databases: Databases, now: datetime | None = None, minutes: int = WINDOW_MINUTES
) -> WebhookRates:
    """Receipts per minute by connection and outcome, added up across regions."""
    edges = window(now or datetime.now(UTC), minutes)
    counts: dict[tuple[str, str], list[int]] = {}
    for db in databases:
        with db.reader() as conn:
            found = receipt_rates.per_minute(conn, edges)
        for row in found:
            per_minute = counts.setdefault((row.connection, row.status), [0] * minutes)
            per_minute[row.minute] += row.receipts
    rates = tuple(
        OutcomeRate(connection, outcome, tuple(per_minute))
        for (connection, outcome), per_minute in sorted(counts.items())
    )
    return WebhookRates(edges[:-1], rates)
