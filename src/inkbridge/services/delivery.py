"""Delivering the outbox: claim due changes per destination, coalesce per record, pack
vendor-sized batches, respect the rate limit, retry with backoff, dead-letter past the budget."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from prometheus_client import Counter
from sqlalchemy import Connection

from inkbridge.connectors.base import BatchResult, Change
from inkbridge.connectors.kinds import COALESCING_KINDS, LEAD_ERASED, MARKETING_ACTIONS
from inkbridge.domain.delivery_policy import CircuitBreaker, RetryPolicy, TokenBucket
from inkbridge.errors import PermanentError, RetryableError
from inkbridge.ids import new_id
from inkbridge.metrics import REGISTRY
from inkbridge.services import delivery_signals as signals
from inkbridge.services.delivery_signals import SettledChange
from inkbridge.services.routing import Destination, consent_of, marketing_allowed
from inkbridge.store import audit, outbox, outbox_claims
from inkbridge.store.database import RegionDatabase
from inkbridge.store.outbox import OutboxRow
from inkbridge.telemetry import tracer

log = structlog.get_logger("inkbridge.delivery")

SUPPRESSED = Counter(
    "inkbridge_marketing_suppressed_total",
    "Marketing actions not sent because the lead has no marketing consent at send time.",
    ["destination"],
    registry=REGISTRY,
)
DELIVERED = Counter(
    "inkbridge_outbox_delivered_total",
    "Outbox rows delivered (coalesced rows count as superseded).",
    ["destination", "outcome"],
    registry=REGISTRY,
)
API_CALLS = Counter(
    "inkbridge_destination_calls_total",
    "Batches sent to destinations, by result.",
    ["destination", "result"],
    registry=REGISTRY,
)


@dataclass
class DestinationRuntime:
    """Per-process delivery state of one destination: its rate limit and circuit."""

    destination: Destination
    bucket: TokenBucket
    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)
    # Whether the last pass's claim was full, so more may be due at once. A claim that took
    # less than it could has left nothing due behind it: the loop waits for the next wake-up
    # (a commit adding rows) instead of claiming again to find nothing.
    backlog: bool = False

    @classmethod
    def for_destination(cls, destination: Destination) -> DestinationRuntime:
        settings = destination.settings
        rate = settings.rate_per_second
        return cls(
            destination=destination,
            bucket=TokenBucket(rate=rate, burst=max(1.0, rate)),
            breaker=CircuitBreaker(
                threshold=settings.circuit_failures, cooldown=settings.circuit_cooldown_seconds
            ),
        )


@dataclass(frozen=True)
class PlannedChange:
    change: Change
    rows: tuple[OutboxRow, ...]  # the newest last; earlier ones are superseded on success


def _groups(record_rows: list[OutboxRow], coalesce: bool) -> list[list[OutboxRow]]:
    """Runs of coalescable changes of one kind travel as one (the newest); others alone."""
    groups: list[list[OutboxRow]] = []
    for row in record_rows:
        last = groups[-1] if groups else None
        if (
            coalesce
            and last is not None
            and row.kind in COALESCING_KINDS
            and last[-1].kind == row.kind
        ):
            last.append(row)
        else:
            groups.append([row])
    return groups


def plan(rows: Sequence[OutboxRow], coalesce: bool) -> list[PlannedChange]:
    """Group claimed rows per record; coalescing sends only the newest change of a record."""
    by_record: dict[str, list[OutboxRow]] = {}
    for row in sorted(rows, key=lambda r: r.id):
        by_record.setdefault(row.record_key, []).append(row)
    planned: list[PlannedChange] = []
    for record_rows in by_record.values():
        groups = _groups(record_rows, coalesce)
        for group in groups:
            newest = group[-1]
            planned.append(
                PlannedChange(
                    change=Change(
                        outbox_id=newest.id,
                        record_key=newest.record_key,
                        kind=newest.kind,
                        idempotency_key=newest.idempotency_key,
                        payload=newest.payload,
                        correlation_id=newest.correlation_id,
                        fact_keys=tuple(r.idempotency_key for r in group),
                        uncertain=any(r.lease_expired or r.attempts > 0 for r in group),
                    ),
                    rows=tuple(group),
                )
            )
    return planned


def _lease_seconds(destination: Destination) -> float:
    # Longer than any send can take, so a live worker never loses a row to another one.
    return destination.settings.timeout_seconds * 3 + 30


# Delivery's transactions (a claim, a settle) are a few statements each and the changes they
# move are what a destination waits for: on SQLite they queue ahead of processing's batches
# (``WriteQueue``), as the webhook writer's do, instead of waiting out up to a batch each.
_AHEAD = True


def _claim(db: RegionDatabase, destination: Destination, limit: int) -> tuple[list[OutboxRow], int]:
    """Lease due changes; marketing actions for leads without marketing consent *now* (it may
    have been withdrawn since the action was queued) are settled as suppressed, not sent.
    Returns the changes to send and how many rows were claimed in all."""
    now = datetime.now(UTC)
    with db.transaction(urgent=_AHEAD) as conn:
        rows = outbox_claims.claim(
            conn,
            destination=destination.name,
            limit=limit,
            lease_seconds=_lease_seconds(destination),
            now=now,
            whole_records=destination.coalesce,
        )
        blocked = [r for r in rows if r.kind in MARKETING_ACTIONS and not _may_market(conn, r)]
        if blocked:
            outbox.mark_suppressed(conn, [r.id for r in blocked], now)
            for row in blocked:
                audit.record(
                    conn,
                    region=db.region,
                    actor="worker",
                    action="consent:marketing:suppressed",
                    subject_id=_lead_id(row),
                    correlation_id=row.correlation_id,
                    details={"destination": destination.name, "fact": row.idempotency_key},
                )
            SUPPRESSED.labels(destination.name).inc(len(blocked))
    blocked_ids = {r.id for r in blocked}
    return [r for r in rows if r.id not in blocked_ids], len(rows)


def _lead_id(row: OutboxRow) -> str | None:
    lead = row.payload.get("lead")
    return str(lead["id"]) if isinstance(lead, dict) and lead.get("id") else None


def _may_market(conn: Connection, row: OutboxRow) -> bool:
    lead_id = _lead_id(row)
    return lead_id is not None and marketing_allowed(consent_of(conn, lead_id))


def _settle(
    db: RegionDatabase,
    destination: Destination,
    planned: Sequence[PlannedChange],
    result: BatchResult | None,
    error: Exception | None,
    started: datetime,
    batch_id: str,
) -> list[SettledChange]:
    """Record the outcome of one batch; returns each planned change with its outcome."""
    finished = datetime.now(UTC)
    settings = destination.settings
    # The outbox's numbers under the one retry policy the inbox uses too.
    retry = RetryPolicy(
        settings.max_attempts, settings.backoff_base_seconds, settings.backoff_cap_seconds
    )
    outcomes: dict[int, tuple[bool, bool, str | None]] = {}
    if result is not None:
        for res in result.results:
            outcomes[res.outbox_id] = (res.ok, res.retryable, res.error)
    # The whole batch settles in a few statements (one per kind of move, not per change).
    moves = _Moves()
    settled: list[SettledChange] = []
    for item in planned:
        rows = item.rows
        reason: str | None
        if error is not None:
            ok, retryable, reason = False, isinstance(error, RetryableError), str(error)
        else:
            ok, retryable, reason = outcomes.get(
                item.change.outbox_id, (False, True, "no result for change")
            )
        attempt = max(r.attempts for r in rows) + 1
        if ok:
            moves.deliver(item)
            outcome, reason = "delivered", None
        elif retryable and not retry.gives_up(attempt):
            delay = moves.delays.setdefault(attempt, retry.delay(attempt))
            if isinstance(error, RetryableError) and error.retry_after:
                delay = max(delay, error.retry_after)
            moves.retry(rows, finished + timedelta(seconds=delay), reason or "")
            outcome = "retry"
        else:
            moves.dead.setdefault(reason or "", []).extend(r.id for r in rows)
            outcome = "dead"
        moves.attempts.extend(outbox.Attempt(r, outcome, reason) for r in rows)
        ids = tuple(r.id for r in rows)
        settled.append(SettledChange(item.change, ids, attempt, outcome, reason))
    with db.transaction(urgent=_AHEAD) as conn:
        moves.apply(conn, finished, outbox.BatchRun(batch_id, started, finished))
    return settled


@dataclass
class _Moves:
    """What one batch's settling writes, gathered per kind of move."""

    delivered: list[int] = field(default_factory=list)
    superseded: list[int] = field(default_factory=list)
    erased: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    retries: dict[tuple[datetime, str], list[int]] = field(default_factory=dict)
    dead: dict[str, list[int]] = field(default_factory=dict)
    attempts: list[outbox.Attempt] = field(default_factory=list)
    # One backoff per attempt number: the changes of a batch that failed together retry together.
    delays: dict[int, float] = field(default_factory=dict)

    def deliver(self, item: PlannedChange) -> None:
        self.superseded.extend(r.id for r in item.rows[:-1])
        payload = _payload_after_delivery(item.change)
        if payload is None:
            self.delivered.append(item.rows[-1].id)
        else:
            self.erased.append((item.rows[-1].id, payload))

    def retry(self, rows: Sequence[OutboxRow], due: datetime, reason: str) -> None:
        self.retries.setdefault((due, reason), []).extend(r.id for r in rows)

    def apply(self, conn: Connection, finished: datetime, run: outbox.BatchRun) -> None:
        outbox.mark_delivered(conn, self.delivered, self.superseded, finished)
        for row_id, payload in self.erased:
            outbox.mark_delivered(conn, [row_id], [], finished, payload=payload)
        for (due, reason), ids in self.retries.items():
            outbox.mark_retry(conn, ids, due, reason)
        for reason, ids in self.dead.items():
            outbox.mark_dead(conn, ids, reason)
        outbox.record_attempts(conn, run, self.attempts)


async def deliver_once(runtime: DestinationRuntime, db: RegionDatabase) -> int:
    """One pass for one destination in one region; returns how many changes were attempted."""
    destination = runtime.destination
    signals.report_circuit(destination.name, runtime.breaker, time.monotonic())
    if not runtime.breaker.allows(time.monotonic()):
        return 0
    limit = destination.settings.batch_size * 4
    rows, claimed = await asyncio.to_thread(_claim, db, destination, limit)
    # With whole records a claim holds more rows than heads: a full one may over-report.
    runtime.backlog = claimed >= limit
    if not rows:
        return 0
    planned = plan(rows, destination.coalesce)
    size = max(1, min(destination.connector.max_batch, destination.settings.batch_size))
    attempted = 0
    for start in range(0, len(planned), size):
        batch = planned[start : start + size]
        wait = runtime.bucket.wait_time(time.monotonic())
        while wait > 0:
            await asyncio.sleep(wait)
            wait = runtime.bucket.wait_time(time.monotonic())
        runtime.bucket.take(time.monotonic())
        batch_id = new_id("bat")
        with tracer().start_as_current_span(
            "inkbridge.delivery.batch",
            attributes={
                "inkbridge.destination": destination.name,
                "inkbridge.region": db.region,
                "inkbridge.batch_id": batch_id,
                "inkbridge.delivery.changes": len(batch),
            },
        ) as span:
            error, settled = await _send(runtime, db, batch, batch_id)
            span.set_attribute("inkbridge.delivery.outcome", signals.batch_outcome(settled))
            span.set_attribute("inkbridge.correlation_ids", signals.correlation_ids(settled))
        attempted += len(batch)
        if error is not None:
            log.warning(
                "delivery_failed",
                destination=destination.name,
                batch_id=batch_id,
                changes=len(batch),
                reason=str(error)[:200],
                correlation_ids=signals.correlation_ids(settled),
            )
            # Give back what this pass claimed but did not send, so it keeps its order.
            rest = planned[start + size :]
            if rest:
                await asyncio.to_thread(_release, db, rest)
                runtime.backlog = True  # due again at once
            break
    return attempted


async def _send(
    runtime: DestinationRuntime, db: RegionDatabase, batch: Sequence[PlannedChange], batch_id: str
) -> tuple[Exception | None, list[SettledChange]]:
    """One batch: the connector call, the circuit and rate limit it informs, its settling."""
    destination = runtime.destination
    started = datetime.now(UTC)
    started_ns = time.time_ns()
    result: BatchResult | None = None
    error: Exception | None = None
    with tracer().start_as_current_span(
        "inkbridge.connector.apply", attributes={"inkbridge.destination": destination.name}
    ) as span:
        try:
            result = await destination.connector.apply([p.change for p in batch])
        except (RetryableError, PermanentError) as exc:
            error = exc
        except Exception as exc:
            error = RetryableError(f"{type(exc).__name__}: {exc}")
        call = "ok" if error is None else "retryable"
        if error is not None and not isinstance(error, RetryableError):
            call = "permanent"
        span.set_attribute("inkbridge.connector.result", call)
    API_CALLS.labels(destination.name, call).inc()
    if isinstance(error, RetryableError):
        runtime.breaker.record_failure(time.monotonic())
        if error.retry_after:
            runtime.bucket.pause(time.monotonic(), error.retry_after)
    elif error is None:
        runtime.breaker.record_success()
        if result is not None and result.retry_after:
            runtime.bucket.pause(time.monotonic(), result.retry_after)
    signals.report_circuit(destination.name, runtime.breaker, time.monotonic())
    settled = await asyncio.to_thread(
        _settle, db, destination, batch, result, error, started, batch_id
    )
    for outcome in ("delivered", "retry", "dead"):
        DELIVERED.labels(destination.name, outcome).inc(
            sum(1 for item in settled if item.outcome == outcome)
        )
    signals.trace_changes(destination.name, settled, started_ns, time.time_ns())
    signals.report_dead_letters(destination.name, db.region, settled)
    return error, settled


def _payload_after_delivery(change: Change) -> dict[str, Any] | None:
    """What a delivered change keeps of its payload: an erasure only its lead id (the email
    was for the vendor to find the person, once); any other change all of it (None)."""
    if change.kind != LEAD_ERASED:
        return None
    lead_id = change.record.lead_or_empty.id or change.record_key.removeprefix("lead:")
    return {"lead": {"id": lead_id}}


def _release(db: RegionDatabase, planned: Sequence[PlannedChange]) -> None:
    ids = [r.id for p in planned for r in p.rows]
    with db.transaction(urgent=_AHEAD) as conn:
        outbox.unlease(conn, ids)
