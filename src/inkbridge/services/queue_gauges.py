"""The queue gauges of ``GET /metrics``, computed at scrape time from each region's store: the
outbox backlog, its oldest change's age and the dead letters per destination, and the worker's
lag (the oldest unprocessed receipt's age) per region. Read at scrape time rather than kept in
memory, they are right whichever process (API or worker) answers the scrape and however many
workers run."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

import structlog
from prometheus_client.core import GaugeMetricFamily, Metric

from inkbridge.services.routing import Destination
from inkbridge.store import queue_depths
from inkbridge.store.database import Databases, RegionDatabase

log = structlog.get_logger("inkbridge.metrics")

DESTINATION_LABELS = ["destination", "region"]


def _age(now: datetime, then: datetime | None) -> float:
    return max(0.0, (now - then).total_seconds()) if then is not None else 0.0


class QueueGauges:
    """A Prometheus collector over every region's queues (``metrics.render`` runs it)."""

    def __init__(self, databases: Databases, destinations: Mapping[str, Destination]) -> None:
        self._databases = databases
        self._destinations = destinations

    def collect(self) -> Iterable[Metric]:
        backlog = GaugeMetricFamily(
            "inkbridge_outbox_backlog",
            "Changes still owed to a destination (pending or in flight).",
            labels=DESTINATION_LABELS,
        )
        oldest = GaugeMetricFamily(
            "inkbridge_outbox_oldest_pending_age_seconds",
            "Age of the oldest change still owed to a destination (0 when none is).",
            labels=DESTINATION_LABELS,
        )
        dead = GaugeMetricFamily(
            "inkbridge_outbox_dead_letters",
            "Changes a destination's delivery gave up on (replayable).",
            labels=DESTINATION_LABELS,
        )
        inbox = GaugeMetricFamily(
            "inkbridge_inbox_backlog",
            "Receipts stored and not yet processed by a worker.",
            labels=["region"],
        )
        lag = GaugeMetricFamily(
            "inkbridge_worker_lag_seconds",
            "Age of the oldest receipt not yet processed (0 when none is waiting).",
            labels=["region"],
        )
        readable = GaugeMetricFamily(
            "inkbridge_queue_metrics_up",
            "1 when the region's queues could be read for this scrape, else 0.",
            labels=["region"],
        )
        for db in self._databases:
            try:
                self._read_region(db, backlog, oldest, dead, inbox, lag)
            except Exception as exc:  # a region down must not take the whole scrape with it
                log.warning("queue_metrics_unreadable", region=db.region, error=type(exc).__name__)
                readable.add_metric([db.region], 0)
            else:
                readable.add_metric([db.region], 1)
        return [backlog, oldest, dead, inbox, lag, readable]

    def _read_region(
        self,
        db: RegionDatabase,
        backlog: GaugeMetricFamily,
        oldest: GaugeMetricFamily,
        dead: GaugeMetricFamily,
        inbox: GaugeMetricFamily,
        lag: GaugeMetricFamily,
    ) -> None:
        now = datetime.now(UTC)
        region = db.region
        with db.reader() as conn:
            receipts = queue_depths.inbox_backlog(conn)
            rows = []
            for name, destination in self._destinations.items():
                if region not in destination.settings.regions:
                    continue
                owed = queue_depths.outbox_backlog(conn, name)
                rows.append((name, owed, queue_depths.dead_letters(conn, name)))
        # Samples are added once every read of the region succeeded: all or nothing.
        inbox.add_metric([region], receipts.waiting)
        lag.add_metric([region], _age(now, receipts.oldest))
        for name, owed, dead_count in rows:
            backlog.add_metric([name, region], owed.waiting)
            oldest.add_metric([name, region], _age(now, owed.oldest))
            dead.add_metric([name, region], dead_count)
