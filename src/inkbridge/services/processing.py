"""Processing receipts: read each claimed receipt with its event source, apply its events to
their envelopes, and settle it — state, event log, audit entries and outbox rows in one
transaction. The state machine is the only writer of state; side effects are the handlers of the
domain events it raises (``event_handlers``), run by the receipt's unit of work."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from prometheus_client import Counter as MetricCounter
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from inkbridge.config import WorkerSettings
from inkbridge.domain.delivery_policy import RECEIPT_RETRY
from inkbridge.domain.lifecycle import Outcome
from inkbridge.domain.queue_states import ReceiptStatus
from inkbridge.errors import DeliveryIgnored, MalformedPayload, redacted_error
from inkbridge.metrics import REGISTRY
from inkbridge.providers.base import EventSource, InboundRequest
from inkbridge.providers.registry import ConnectionBinding
from inkbridge.services.envelope_tracking import ConcurrentUpdate
from inkbridge.services.envelope_updates import Parsed, read_ahead, update_envelope
from inkbridge.services.receipt_residency import ReceiptResidency
from inkbridge.services.unit_of_work import EventHandlers, unit_of_work
from inkbridge.store import batch_locks, chains, receipts, transaction_memo
from inkbridge.store.database import RegionDatabase
from inkbridge.store.receipts import ReceiptRecord
from inkbridge.telemetry import CORRELATION_ID, tracer

log = structlog.get_logger("inkbridge.processing")

RECEIPTS_PROCESSED = MetricCounter(
    "inkbridge_receipts_processed_total",
    "Receipts settled by the worker, by status.",
    ["status"],
    registry=REGISTRY,
)
RECEIPTS_IGNORED = MetricCounter(
    "inkbridge_receipts_ignored_total",
    "Verified deliveries with nothing inkbridge acts on, by connection and reason.",
    ["connection", "reason"],
    registry=REGISTRY,
)
# A vendor adapter reads an event type it does not track as no events at all.
NOTHING_TO_APPLY = DeliveryIgnored("no_event", "no event inkbridge acts on")
MAX_RECEIPT_ATTEMPTS = RECEIPT_RETRY.max_attempts
# On SQLite, receipts claimed at a time within one processing transaction.
SQLITE_CLAIM_CHUNK = 4


@dataclass(frozen=True)
class ProcessResult:
    receipt_id: int
    status: str
    events: int = 0
    accepted: int = 0
    correlation_id: str | None = None


def _request_of(receipt: ReceiptRecord) -> InboundRequest:
    return InboundRequest(
        connection=receipt.connection,
        method="POST",
        headers=receipt.headers,
        query={},
        body=receipt.body,
        received_at=receipt.received_at,
    )


def _references(batch: list[tuple[ReceiptRecord, Parsed]]) -> Iterator[str]:
    """The vendor reference of every envelope a batch's events are about."""
    for _receipt, parsed in batch:
        if isinstance(parsed.events, list):
            for event in parsed.events:
                yield event.provider_envelope_id


@dataclass(frozen=True)
class ReceiptProcessor:
    """The worker's inbox step, built once by bootstrap with what it needs: the connection
    bindings, the event sources of receipts that are not webhooks (reconciliation reports, by
    receipt source), the handlers of domain events, and the worker's settings."""

    bindings: Mapping[str, ConnectionBinding]
    # Event sources by receipt source, for receipts that are not webhooks (reconciliation).
    sources: Mapping[str, EventSource]
    handlers: EventHandlers
    settings: WorkerSettings
    # Refuses a receipt about another region's data before any of it is applied (None: a
    # single-region setup built in code, with nothing to cross).
    residency: ReceiptResidency | None = None

    def process_receipt(self, db: RegionDatabase, receipt: ReceiptRecord) -> ProcessResult:
        """Process one claimed receipt in its own transaction; safe to run again after a crash."""
        with db.transaction() as conn:
            return self.process_receipt_in(conn, receipt)

    def process_receipt_in(
        self, conn: Connection, receipt: ReceiptRecord, parsed: Parsed | None = None
    ) -> ProcessResult:
        """Process one receipt inside the caller's transaction, in a savepoint of its own: a
        receipt that fails rolls back alone and is retried; the others commit. Traced as one
        ``inkbridge.receipt`` span, its events' state changes as its children. ``parsed`` is
        what ``parse`` made of the receipt, when the batch read it ahead."""
        attributes: dict[str, str | int] = {
            "inkbridge.receipt_id": receipt.id,
            "inkbridge.connection": receipt.connection,
            "inkbridge.region": receipt.region,
            "inkbridge.receipt.source": receipt.source,
        }
        with tracer().start_as_current_span("inkbridge.receipt", attributes=attributes) as span:
            result = self._process(conn, receipt, self.parse(receipt) if parsed is None else parsed)
            span.set_attribute("inkbridge.receipt.status", result.status)
            correlation_id = result.correlation_id or receipt.correlation_id
            if correlation_id:
                span.set_attribute(CORRELATION_ID, correlation_id)
            return result

    def parse(self, receipt: ReceiptRecord) -> Parsed:
        """The receipt's events, or why it has none: its connection unknown (None), a delivery
        with nothing to act on, or an unreadable one."""
        binding = self.bindings.get(receipt.connection)
        if binding is None:
            return Parsed(None, None, [])
        # A webhook is read by its connection's adapter; a reconciliation report by its own.
        source = self.sources.get(receipt.source, binding.adapter)
        try:
            return Parsed(binding, source, source.parse(_request_of(receipt)))
        except (DeliveryIgnored, MalformedPayload) as exc:
            return Parsed(binding, source, exc)

    def _process(self, conn: Connection, receipt: ReceiptRecord, parsed: Parsed) -> ProcessResult:
        binding, source, events = parsed
        now = datetime.now(UTC)
        if binding is None or source is None:
            receipts.settle(
                conn, receipt.id, status=ReceiptStatus.FAILED, now=now, error="unknown connection"
            )
            RECEIPTS_PROCESSED.labels("failed").inc()
            log.warning(
                "receipt_failed",
                receipt_id=receipt.id,
                connection=receipt.connection[:100],
                reason="unknown connection",
                correlation_id=receipt.correlation_id,
            )
            return ProcessResult(receipt.id, "failed")
        if isinstance(events, DeliveryIgnored):
            return self._ignore(conn, receipt, events, now)
        if isinstance(events, MalformedPayload):
            exc = events
            receipts.settle(conn, receipt.id, status=ReceiptStatus.FAILED, now=now, error=str(exc))
            RECEIPTS_PROCESSED.labels("failed").inc()
            log.warning(
                "receipt_failed",
                receipt_id=receipt.id,
                connection=receipt.connection,
                reason=f"unreadable: {exc}",
                correlation_id=receipt.correlation_id,
            )
            return ProcessResult(receipt.id, "failed")
        if not events:
            return self._ignore(conn, receipt, NOTHING_TO_APPLY, now)
        if self.residency is not None:
            try:
                refusal = self.residency.refusal(conn, receipt, events)
                if refusal is not None:
                    with conn.begin_nested():
                        self.residency.refuse(conn, receipt, refusal, now)
            except Exception as exc:  # e.g. another region unreachable: decided on a retry
                return self._park_or_retry(conn, receipt, exc, now)
            if refusal is not None:
                RECEIPTS_PROCESSED.labels(ReceiptStatus.REFUSED_RESIDENCY.value).inc()
                return ProcessResult(receipt.id, ReceiptStatus.REFUSED_RESIDENCY.value)
        accepted = 0
        correlation_id = None
        lead_id = None
        try:
            with unit_of_work(conn, self.handlers) as uow:
                for index, event in enumerate(events):
                    with tracer().start_as_current_span(
                        "inkbridge.envelope.event",
                        attributes={"inkbridge.event.type": str(event.type), "index": index},
                    ) as span:
                        update = update_envelope(
                            conn,
                            receipt,
                            index,
                            event,
                            provider=binding.provider,
                            source=source,
                            now=now,
                        )
                        span.set_attribute("inkbridge.event.outcome", str(update.outcome))
                        span.set_attribute("inkbridge.facts", len(update.facts))
                        span.set_attribute(CORRELATION_ID, update.correlation_id)
                    uow.collect(update.facts)
                    # Each event's effects land before the next event is read, as a lead's
                    # consent recorded on completion is part of what later records carry.
                    uow.publish()
                    correlation_id = update.correlation_id
                    lead_id = update.lead_id or lead_id
                    accepted += update.outcome is Outcome.ACCEPTED
                receipts.settle_done_later(
                    conn, receipt.id, now=now, correlation_id=correlation_id, lead_id=lead_id
                )
        except (ConcurrentUpdate, IntegrityError) as exc:
            # Another worker changed the same envelope first: try again in a moment (the rows
            # the batch kept may be stale: they are read again).
            transaction_memo.forget_reads(conn)
            receipts.release(
                conn,
                receipt.id,
                error=f"concurrent update: {type(exc).__name__}",
                retry_at=now + timedelta(seconds=0.05),
            )
            return ProcessResult(receipt.id, "retry")
        except Exception as exc:
            return self._park_or_retry(conn, receipt, exc, now)
        # No log line per receipt (one per batch, in process_pending): it cost ~5 % of a
        # worker's CPU per event; the receipt's span and its row say what happened to it.
        RECEIPTS_PROCESSED.labels("done").inc()
        return ProcessResult(
            receipt.id, "done", len(events), accepted, correlation_id=correlation_id
        )

    @staticmethod
    def _ignore(
        conn: Connection, receipt: ReceiptRecord, ignored: DeliveryIgnored, now: datetime
    ) -> ProcessResult:
        """Keep a delivery with nothing to apply as ``ignored`` with its reason (listed by
        ``GET /v1/admin/receipts?status=ignored``), counted by its fixed kind."""
        receipts.settle(
            conn, receipt.id, status=ReceiptStatus.IGNORED, now=now, error=ignored.detail
        )
        RECEIPTS_PROCESSED.labels("ignored").inc()
        RECEIPTS_IGNORED.labels(receipt.connection, ignored.kind).inc()
        log.debug(
            "receipt_ignored",
            receipt_id=receipt.id,
            connection=receipt.connection,
            reason=ignored.kind,
            correlation_id=receipt.correlation_id,
        )
        return ProcessResult(receipt.id, "ignored")

    @staticmethod
    def _park_or_retry(
        conn: Connection, receipt: ReceiptRecord, exc: Exception, now: datetime
    ) -> ProcessResult:
        """Never lose a receipt to a bug: retry with backoff, then park it as failed (visible,
        replayable) instead of blocking the inbox. The error is redacted in the column and the
        log alike: an exception's message may quote payload values (see errors.redacted_error)."""
        failed = RECEIPT_RETRY.gives_up(receipt.attempts)
        error = redacted_error(exc)
        if failed:
            receipts.settle(conn, receipt.id, status=ReceiptStatus.FAILED, now=now, error=error)
        else:
            delay = RECEIPT_RETRY.delay(receipt.attempts)
            receipts.release(conn, receipt.id, error=error, retry_at=now + timedelta(seconds=delay))
        if failed:
            log.warning(
                "receipt_parked",
                receipt_id=receipt.id,
                parked=True,
                connection=receipt.connection,
                reason=error,
                attempts=receipt.attempts,
                correlation_id=receipt.correlation_id,
            )
        else:
            log.error("receipt_processing_error", receipt_id=receipt.id, parked=False, error=error)
        return ProcessResult(receipt.id, "failed" if failed else "retry")

    def process_pending(self, db: RegionDatabase, limit: int = 50) -> int:
        """Claim and process up to ``limit`` receipts of one region; returns how many were
        claimed.

        A batch is one transaction (each receipt in a savepoint of its own): one commit, one
        fsync. Should the process die midway, the whole batch rolls back and runs again once its
        leases run out (on SQLite the claims roll back with it). On SQLite the transaction stops
        taking receipts once it has run ``worker.sqlite_transaction_seconds``."""
        lease = self.settings.lease_seconds
        statuses: Counter[str] = Counter()
        if not db.is_sqlite:
            # Claimed in a transaction of its own (SKIP LOCKED), so other workers claim the
            # next receipts at once.
            with db.transaction() as conn:
                claimed = receipts.claim(
                    conn, limit=limit, lease_seconds=lease, now=datetime.now(UTC)
                )
            if not claimed:
                return 0
            with db.transaction() as conn, chains.memoized_heads(conn):
                # Every accepted change appends to the region's one audit chain, whose head a
                # transaction holds until it commits. Its entries are linked at the batch's
                # end (``chains.memoized_heads``), the head taken only then: the workers'
                # batches do their receipts side by side and line up for the flush and the
                # commit alone. No deadlock through it: its holder, flushing, waits for no
                # lock another batch could hold (see ``chains._flush``). Envelopes' chain heads
                # two batches lock in opposite orders are a deadlock PostgreSQL breaks by
                # failing one statement (that receipt's savepoint rolls back and it is retried)
                # after a second's wait: so the batch first locks its envelopes, in the one
                # order every batch uses (``batch_locks``).
                parsed = [self.parse(receipt) for receipt in claimed]
                batch = list(zip(claimed, parsed, strict=True))
                batch_locks.lock_envelopes(conn, _references(batch))
                # The batch's envelopes and recipients in two statements instead of two round
                # trips per receipt (kept current by the batch's writes: transaction_memo),
                # read once their locks are held: what an earlier batch committed is seen.
                read_ahead(conn, batch)
                for receipt, events in batch:
                    statuses[self.process_receipt_in(conn, receipt, events).status] += 1
            self._log_batch(db, statuses)
            return len(claimed)
        # Claimed a few at a time while the transaction is young: it holds SQLite's one write
        # lock, which the webhook receipt writer of this process waits for.
        deadline = time.monotonic() + self.settings.sqlite_transaction_seconds
        done = 0
        # Chain heads are read once per transaction and written back once before it commits.
        with db.transaction() as conn, chains.memoized_heads(conn):
            while done < limit:
                chunk = min(SQLITE_CLAIM_CHUNK, limit - done)
                claimed = receipts.claim(
                    conn, limit=chunk, lease_seconds=lease, now=datetime.now(UTC)
                )
                for receipt in claimed:
                    statuses[self.process_receipt_in(conn, receipt).status] += 1
                done += len(claimed)
                if len(claimed) < chunk or time.monotonic() >= deadline:
                    break
        if done:
            self._log_batch(db, statuses)
        if statuses[ReceiptStatus.REFUSED_RESIDENCY.value] and not db.truncate_wal():
            # Readers held on: the log keeps the dropped body's old page until SQLite reuses it.
            log.warning("residency_wal_not_truncated", region=db.region)
        return done

    @staticmethod
    def _log_batch(db: RegionDatabase, statuses: Counter[str]) -> None:
        """One line per committed batch: how many receipts ended in each status."""
        log.info(
            "receipts_processed",
            region=db.region,
            receipts=sum(statuses.values()),
            **{status: count for status, count in sorted(statuses.items())},
        )
