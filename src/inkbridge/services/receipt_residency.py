"""Residency of a receipt: nothing personal crosses regions through the inbox.

A receipt belongs to the region of the connection it came in at. Before any of its events is
applied, each event is checked against what the regions hold: one whose metadata names a lead
(``inkbridge_lead_id``) or an envelope (``inkbridge_envelope_id``) this region does not hold but
another does, or whose signer's email is a lead of another region and of none here, is refused.
The receipt is then parked as ``refused_residency`` with its body dropped: nothing tracked,
linked or queued, and an audit entry naming the refusal with hashed ids only.

The other regions are read through their own databases, read-only, only to decide the refusal;
nothing read there is kept. With one region there is nothing to cross and nothing is read."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog
from prometheus_client import Counter
from sqlalchemy import Connection

from inkbridge.domain.events import NormalizedEvent
from inkbridge.domain.residency import Refusal
from inkbridge.ids import hash_identifier
from inkbridge.metrics import REGISTRY
from inkbridge.services.envelope_tracking import META_CORRELATION, META_ENVELOPE, META_LEAD
from inkbridge.store import audit, receipts
from inkbridge.store import envelopes as envelope_store
from inkbridge.store import leads as lead_store
from inkbridge.store.database import Databases
from inkbridge.store.receipts import ReceiptRecord

log = structlog.get_logger("inkbridge.residency")

RECEIPTS_REFUSED = Counter(
    "inkbridge_receipts_refused_residency_total",
    "Receipts refused because what they name is held by another region, by region and reason.",
    ["region", "reason"],
    registry=REGISTRY,
)
REFUSED_ACTION = "worker:receipt:refused_residency"

Held = Callable[[Connection], bool]


@dataclass(frozen=True)
class ResidencyRefusal:
    """Why a receipt is refused, and the hashed ids its events named (for the audit entry)."""

    reason: Refusal
    named: dict[str, str]
    # The correlation id the refused event's metadata carried, if any (an opaque id).
    correlation_id: str | None = None


def _lead_held(lead_id: str) -> Held:
    return lambda conn: lead_store.find(conn, lead_id) is not None


def _envelope_held(envelope_id: str) -> Held:
    return lambda conn: envelope_store.get(conn, envelope_id) is not None


def _signer_held(email: str) -> Held:
    # Each region's blind index has its own key: the email is looked up in each region's terms.
    return lambda conn: lead_store.latest_by_email(conn, email) is not None


@dataclass(frozen=True)
class ReceiptResidency:
    """The residency check of the worker, over every region's database."""

    databases: Databases

    def refusal(
        self, conn: Connection, receipt: ReceiptRecord, events: Sequence[NormalizedEvent]
    ) -> ResidencyRefusal | None:
        """The reason to refuse ``receipt`` (read in ``conn``, its region's transaction), or
        None when every event it carries is about this region or about no region at all."""
        if len(self.databases.names) < 2:
            return None
        for event in events:
            lead_id = event.metadata.get(META_LEAD)
            envelope_id = event.metadata.get(META_ENVELOPE)
            checks: list[tuple[Refusal, Held]] = []
            if lead_id:
                checks.append((Refusal.LEAD, _lead_held(lead_id)))
            if envelope_id:
                checks.append((Refusal.ENVELOPE, _envelope_held(envelope_id)))
            if event.recipient_email:
                checks.append((Refusal.SIGNER, _signer_held(event.recipient_email)))
            for reason, held in checks:
                if not held(conn) and self._held_elsewhere(receipt.region, held):
                    named = {"lead_id": lead_id, "envelope_id": envelope_id}
                    hashed = {
                        f"{key}_hash": hash_identifier(value)
                        for key, value in named.items()
                        if value
                    }
                    correlation_id = event.metadata.get(META_CORRELATION) or None
                    return ResidencyRefusal(reason, hashed, correlation_id)
        return None

    def _held_elsewhere(self, region: str, held: Held) -> bool:
        for db in self.databases:
            if db.region == region:
                continue
            with db.reader() as other:
                if held(other):
                    return True
        return False

    @staticmethod
    def refuse(
        conn: Connection, receipt: ReceiptRecord, refusal: ResidencyRefusal, now: datetime
    ) -> None:
        """Park the receipt as refused (its body dropped), audited and counted."""
        receipts.refuse_for_residency(conn, receipt.id, reason=refusal.reason.value, now=now)
        audit.record(
            conn,
            region=receipt.region,
            actor="worker",
            action=REFUSED_ACTION,
            subject_id=str(receipt.id),
            correlation_id=None,
            details={
                "connection": receipt.connection,
                "reason": refusal.reason.value,
                **refusal.named,
            },
        )
        RECEIPTS_REFUSED.labels(receipt.region, refusal.reason.value).inc()
        log.warning(
            "receipt_refused_residency",
            receipt_id=receipt.id,
            region=receipt.region,
            connection=receipt.connection,
            reason=refusal.reason.value,
            correlation_id=refusal.correlation_id or receipt.correlation_id,
        )
