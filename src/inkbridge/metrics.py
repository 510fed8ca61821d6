"""Prometheus metrics, all registered on inkbridge's own registry (served at ``GET /metrics``).

A plain module of module-level metrics: other parts append theirs here, registered on
``REGISTRY``, so one scrape shows everything and tests can read values without touching the
process-wide default registry.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.registry import Collector

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


# Requests through the application (every route but the webhook hot path, which counts its own
# deliveries above). Labelled by route template, never the path: no ids or values in labels.
HTTP_REQUESTS = Counter(
    "inkbridge_http_requests_total",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "inkbridge_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and method.",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)

# The circuit of each destination in the process that delivers (a worker): one series per state,
# 1 for the state it is in.
CIRCUIT_STATES = ("closed", "open", "half_open")
CIRCUIT_STATE = Gauge(
    "inkbridge_destination_circuit_state",
    "A destination's circuit breaker: 1 for its current state (closed, open, half_open).",
    ["destination", "state"],
    registry=REGISTRY,
)
QUOTA_REMAINING = Gauge(
    "inkbridge_destination_quota_remaining",
    "Requests left in the vendor's rate-limit window, as its last answer reported it.",
    ["destination"],
    registry=REGISTRY,
)


def set_circuit_state(destination: str, state: str) -> None:
    for each in CIRCUIT_STATES:
        CIRCUIT_STATE.labels(destination, each).set(1 if each == state else 0)


def render(*collectors: Collector) -> bytes:
    """The registry in the Prometheus text exposition format, followed by ``collectors``
    (computed now: gauges read from the store at scrape time)."""
    text = bytes(generate_latest(REGISTRY))
    if collectors:
        scrape = CollectorRegistry(auto_describe=False)
        for collector in collectors:
            scrape.register(collector)
        text += bytes(generate_latest(scrape))
    return text
