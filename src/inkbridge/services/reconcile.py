"""Reconciliation: ask the provider for the status of envelopes that are stale, in conflict, or
whose provider is known to drop webhooks, and feed the answer into the same pipeline as a receipt
with source ``reconcile`` — the state machine stays the only writer of envelope state."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import structlog
from sqlalchemy import and_, or_, select, update

from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.domain.lifecycle import TERMINAL
from inkbridge.errors import InkbridgeError, MalformedPayload
from inkbridge.providers.base import EventSource, InboundRequest, ProviderClient
from inkbridge.store import audit
from inkbridge.store.database import RegionDatabase
from inkbridge.store.receipt_inserts import ReceiptRow, insert_receipt
from inkbridge.store.schema import envelopes

log = structlog.get_logger("inkbridge.reconcile")

# Providers whose webhooks may stop for good (Acrobat Sign disables a failing webhook), so their
# open envelopes are polled whatever their age.
ALWAYS_POLL = frozenset({"acrobat_sign"})
TERMINAL_VALUES = tuple(s.value for s in TERMINAL)
# The source of the receipts the reconciler queues.
RECONCILE_SOURCE: Final = "reconcile"


@dataclass(frozen=True)
class ReconcileResult:
    checked: int
    reported: int
    failed: int


def encode_report(envelope_id: str, events: list[NormalizedEvent]) -> bytes:
    return json.dumps(
        {
            "envelope_id": envelope_id,
            "events": [
                {
                    "type": e.type.value,
                    "provider": e.provider,
                    "provider_envelope_id": e.provider_envelope_id,
                    "occurred_at": e.occurred_at.isoformat(),
                    "recipient_id": e.recipient_id,
                    "vendor_event": e.vendor_event,
                }
                for e in events
            ],
        },
        sort_keys=True,
    ).encode()


def decode_report(body: bytes) -> list[NormalizedEvent]:
    try:
        report: dict[str, Any] = json.loads(body)
        return [
            NormalizedEvent(
                type=EventType(item["type"]),
                provider=str(item["provider"]),
                provider_envelope_id=str(item["provider_envelope_id"]),
                occurred_at=datetime.fromisoformat(item["occurred_at"]),
                recipient_id=item.get("recipient_id"),
                vendor_event=str(item.get("vendor_event") or item["type"]),
                metadata={"inkbridge_envelope_id": str(report["envelope_id"])},
            )
            for item in report["events"]
        ]
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedPayload(f"unreadable reconciliation report: {type(exc).__name__}") from None


class StatusReports(EventSource):
    """The event source of reconciliation receipts: the provider's own account of an envelope,
    fetched from its API, so a terminal state in it is authoritative."""

    authoritative = True

    def parse(self, request: InboundRequest) -> list[NormalizedEvent]:
        return decode_report(request.body)


@dataclass(frozen=True)
class Reconciler:
    """Polls providers for the envelopes that need it; built once by bootstrap with the API
    clients of the connections and the default staleness window."""

    providers: Mapping[str, ProviderClient]
    # Open envelopes this long without news are polled (unless a round asks otherwise).
    stale_after: timedelta

    def _candidates(
        self, db: RegionDatabase, now: datetime, stale_after: timedelta, limit: int
    ) -> list[Any]:
        open_state = envelopes.c.state.not_in(TERMINAL_VALUES)
        query = (
            select(envelopes)
            .where(
                envelopes.c.provider_envelope_id.is_not(None),
                or_(
                    envelopes.c.needs_reconcile.is_(True),
                    and_(open_state, envelopes.c.updated_at < now - stale_after),
                    and_(open_state, envelopes.c.provider.in_(ALWAYS_POLL)),
                ),
            )
            .order_by(envelopes.c.last_reconciled_at.is_not(None), envelopes.c.last_reconciled_at)
            .limit(limit * 4)
        )
        with db.reader() as conn:
            rows = conn.execute(query).all()
        due = []
        for row in rows:
            client = self.providers.get(row.connection)
            if client is None:
                continue
            interval = timedelta(seconds=client.min_poll_interval_seconds)
            if row.last_reconciled_at is None or row.last_reconciled_at <= now - interval:
                due.append(row)
        return due[:limit]

    async def reconcile_envelope(self, db: RegionDatabase, row: Any) -> bool:
        """Fetch one envelope's status and queue it as a reconcile receipt; True if queued."""
        client = self.providers[row.connection]
        now = datetime.now(UTC)
        try:
            events = await client.fetch_status(row.provider_envelope_id)
        except InkbridgeError as exc:
            log.warning("reconcile_fetch_failed", envelope_id=row.id, reason=str(exc)[:200])
            return False
        body = encode_report(row.id, events)
        digest = hashlib.sha256(body).hexdigest()
        # The same report twice is one receipt, except for an envelope flagged since (a
        # conflict, an unconfirmed terminal claim): it needs the answer applied again even when
        # the provider says what it said before, once per envelope version.
        dedup_key = f"reconcile:{digest}"
        if row.needs_reconcile:
            dedup_key += f":v{row.version}"
        with db.transaction() as conn:
            _, inserted = insert_receipt(
                conn,
                ReceiptRow(
                    region=db.region,
                    connection=row.connection,
                    dedup_key=dedup_key,
                    source=RECONCILE_SOURCE,
                    content_type="application/json",
                    headers={},
                    body=body,
                    received_at=now,
                    correlation_id=row.correlation_id,
                ),
            )
            conn.execute(
                update(envelopes).where(envelopes.c.id == row.id).values(last_reconciled_at=now)
            )
            audit.record(
                conn,
                region=db.region,
                actor="reconciler",
                action="reconcile:envelope:checked",
                subject_id=row.id,
                correlation_id=row.correlation_id,
                details={"events": len(events), "new": inserted},
            )
        return True

    async def reconcile_once(
        self,
        db: RegionDatabase,
        *,
        stale_after: timedelta | None = None,
        limit: int = 50,
    ) -> ReconcileResult:
        window = stale_after or self.stale_after
        rows = self._candidates(db, datetime.now(UTC), window, limit)
        reported = failed = 0
        for row in rows:
            if await self.reconcile_envelope(db, row):
                reported += 1
            else:
                failed += 1
        return ReconcileResult(checked=len(rows), reported=reported, failed=failed)
