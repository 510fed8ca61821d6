"""What delivery tells operators about each batch: the warning a dead-lettered change logs, the
spans of a batch's changes, the state its destination's circuit is in.

Kept apart from ``delivery`` (which decides what happens to a change) so that the decisions read
on their own; this module only reports them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from inkbridge import metrics
from inkbridge.connectors.base import Change
from inkbridge.domain.delivery_policy import CircuitBreaker
from inkbridge.telemetry import CORRELATION_ID, tracer

log = structlog.get_logger("inkbridge.delivery")

# Vendor reasons are short, but a transport error may quote a whole answer: a line keeps this.
REASON_CHARS = 200


@dataclass(frozen=True)
class SettledChange:
    """One planned change of a batch after its attempt: delivered, retry or dead."""

    change: Change
    outbox_ids: tuple[int, ...]
    attempt: int
    outcome: str
    reason: str | None


def circuit_state(breaker: CircuitBreaker, now: float) -> str:
    if not breaker.is_open:
        return "closed"
    return "half_open" if breaker.allows(now) else "open"


def report_circuit(destination: str, breaker: CircuitBreaker, now: float) -> None:
    metrics.set_circuit_state(destination, circuit_state(breaker, now))


def report_dead_letters(destination: str, region: str, settled: Sequence[SettledChange]) -> None:
    """One warning per dead-lettered change, with its reason and correlation id (the row keeps
    the whole reason as ``last_error``)."""
    for item in settled:
        if item.outcome != "dead":
            continue
        log.warning(
            "outbox_dead_lettered",
            destination=destination,
            region=region,
            outbox_ids=list(item.outbox_ids),
            kind=item.change.kind,
            attempts=item.attempt,
            reason=(item.reason or "")[:REASON_CHARS],
            correlation_id=item.change.correlation_id,
        )


def trace_changes(
    destination: str, settled: Sequence[SettledChange], started_ns: int, finished_ns: int
) -> None:
    """A span per change under the current (batch) span, over the batch's attempt, carrying
    the change's correlation id."""
    for item in settled:
        attributes: dict[str, str | int] = {
            "inkbridge.destination": destination,
            "inkbridge.outbox_id": item.change.outbox_id,
            "inkbridge.change.kind": item.change.kind,
            "inkbridge.delivery.outcome": item.outcome,
            "inkbridge.delivery.attempt": item.attempt,
        }
        if item.change.correlation_id:
            attributes[CORRELATION_ID] = item.change.correlation_id
        span = tracer().start_span(
            "inkbridge.delivery.change", attributes=attributes, start_time=started_ns
        )
        span.end(end_time=finished_ns)


def batch_outcome(settled: Sequence[SettledChange]) -> str:
    """The batch's outcome for its span: the single outcome of its changes, else ``mixed``."""
    outcomes = {item.outcome for item in settled}
    return outcomes.pop() if len(outcomes) == 1 else "mixed"


def correlation_ids(settled: Sequence[SettledChange]) -> list[str]:
    return sorted({i.change.correlation_id for i in settled if i.change.correlation_id})
