"""The console's overview: what is owed to each destination and how old the oldest change is,
dead letters per destination, receipts parked as refused, ignored or failed, webhooks per
minute by connection and outcome (``webhook_rates``), and this process's webhook, circuit and
quota figures from the metrics registry.

The queue figures and the webhooks per minute come from every region's store (right whichever
process answers); the webhook counters are the answering process's own since it started, as
``/metrics`` shows them, and the only count of deliveries rejected before they were stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from inkbridge import metrics
from inkbridge.domain.queue_states import ReceiptStatus
from inkbridge.services.routing import Destination
from inkbridge.services.webhook_rates import WebhookRates, webhook_rates
from inkbridge.store import queue_depths
from inkbridge.store.database import Databases

PARKED = (ReceiptStatus.REFUSED_RESIDENCY, ReceiptStatus.IGNORED, ReceiptStatus.FAILED)


@dataclass(frozen=True)
class DestinationHealth:
    destination: str
    region: str
    backlog: int
    oldest_pending_age_seconds: float
    dead_letters: int
    circuit: str | None = None  # None: this process has not delivered to it
    quota_remaining: float | None = None


@dataclass(frozen=True)
class Overview:
    destinations: list[DestinationHealth]
    inbox_backlog: int
    inbox_oldest_age_seconds: float
    parked_receipts: dict[str, int]
    webhooks: list[tuple[str, str, int]] = field(default_factory=list)
    rates: WebhookRates = field(default_factory=lambda: WebhookRates((), ()))

    @property
    def dead_letters(self) -> int:
        return sum(d.dead_letters for d in self.destinations)


def _age(now: datetime, then: datetime | None) -> float:
    return max(0.0, (now - then).total_seconds()) if then is not None else 0.0


def _samples(metric: object, suffix: str) -> list[tuple[dict[str, str], float]]:
    found: list[tuple[dict[str, str], float]] = []
    for family in metric.collect():  # type: ignore[attr-defined]
        for sample in family.samples:
            if sample.name.endswith(suffix):
                found.append((dict(sample.labels), float(sample.value)))
    return found


def _circuits() -> dict[str, str]:
    return {
        labels["destination"]: labels["state"]
        for labels, value in _samples(metrics.CIRCUIT_STATE, "_state")
        if value == 1
    }


def webhook_counts() -> list[tuple[str, str, int]]:
    """(connection, outcome, deliveries) counted by this process, busiest first."""
    counted = [
        (labels["connection"], labels["outcome"], int(value))
        for labels, value in _samples(metrics.WEBHOOKS, "_total")
        if value
    ]
    return sorted(counted, key=lambda c: (-c[2], c[0], c[1]))


def overview(databases: Databases, destinations: Mapping[str, Destination]) -> Overview:
    now = datetime.now(UTC)
    circuits = _circuits()
    quotas = {
        labels["destination"]: value
        for labels, value in _samples(metrics.QUOTA_REMAINING, "_remaining")
    }
    health: list[DestinationHealth] = []
    parked = dict.fromkeys((s.value for s in PARKED), 0)
    inbox_waiting, inbox_oldest = 0, 0.0
    for db in databases:
        with db.reader() as conn:
            inbox = queue_depths.inbox_backlog(conn)
            for status, count in queue_depths.parked_receipt_counts(
                conn, tuple(s.value for s in PARKED)
            ).items():
                parked[status] += count
            for name, destination in sorted(destinations.items()):
                if db.region not in destination.settings.regions:
                    continue
                owed = queue_depths.outbox_backlog(conn, name)
                health.append(
                    DestinationHealth(
                        destination=name,
                        region=db.region,
                        backlog=owed.waiting,
                        oldest_pending_age_seconds=_age(now, owed.oldest),
                        dead_letters=queue_depths.dead_letters(conn, name),
                        circuit=circuits.get(name),
                        quota_remaining=quotas.get(name),
                    )
                )
        inbox_waiting += inbox.waiting
        inbox_oldest = max(inbox_oldest, _age(now, inbox.oldest))
    rates = webhook_rates(databases, now)
    return Overview(health, inbox_waiting, inbox_oldest, parked, webhook_counts(), rates)
