"""Prometheus metrics, all registered on inkbridge's own registry (served at ``GET /metrics``).

A plain module of module-level metrics: other parts append theirs here, registered on
``REGISTRY``, so one scrape shows everything and tests can read values without touching the
process-wide default registry.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

REGISTRY = CollectorRegistry()

# Label value for requests naming a connection that is not configured: the path segment is
# caller-chosen, so using it as a label would let anyone grow the series without bound.
UNKNOWN_CONNECTION = "_unknown"

WEBHOOK_OUTCOMES = (
    "accepted",
    "duplicate",
    "invalid_signature",
    "malformed",
    "too_large",
    "unsupported_media_type",
    "unknown_connection",
    "store_failed",
)

WEBHOOKS = Counter(
    "inkbridge_webhooks_total",
    "Webhook deliveries by connection and outcome.",
    ["connection", "outcome"],
    registry=REGISTRY,
)

ACK_SECONDS = Histogram(
    "inkbridge_webhook_ack_seconds",
    "Time from receiving a webhook to acknowledging it after a durable commit.",
    ["connection"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)

GROUP_COMMIT_BATCH = Histogram(
    "inkbridge_group_commit_batch_rows",
    "Receipts written per group commit.",
    ["region"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
    registry=REGISTRY,
)

GROUP_COMMIT_SECONDS = Histogram(
    "inkbridge_group_commit_seconds",
    "Time to insert and commit one group of receipts.",
    ["region"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
    registry=REGISTRY,
)


def render() -> bytes:
    """The registry in the Prometheus text exposition format."""
    return bytes(generate_latest(REGISTRY))
