"""The states of the two queues: inbox receipts and outbox rows, and the moves between them.

The store persists each move as a guarded update (``UPDATE … WHERE status = :expected``) and the
database refuses any other value through a CHECK constraint built from these enums.
"""

from __future__ import annotations

from enum import StrEnum


class ReceiptStatus(StrEnum):
    """Where one webhook receipt (or reconcile report, or CRM trigger) stands in the inbox."""

    PENDING = "pending"  # stored, waiting for a worker
    PROCESSING = "processing"  # leased by a worker until ``lease_until``, or waiting to retry
    DONE = "done"  # processed: its events are applied
    IGNORED = "ignored"  # nothing in it to apply
    FAILED = "failed"  # unreadable, or its attempt budget spent; replayable
    # Names a lead or envelope of another region (or a signer only another region knows):
    # parked, its body dropped, nothing of it applied. Not replayable here: it is not ours.
    REFUSED_RESIDENCY = "refused_residency"


class OutboxStatus(StrEnum):
    """Where one outbox row (one change for one destination) stands."""

    PENDING = "pending"  # due at ``next_attempt_at``
    INFLIGHT = "inflight"  # leased by a delivery loop until ``lease_until``
    DELIVERED = "delivered"  # the destination acknowledged it
    SUPERSEDED = "superseded"  # coalesced into a newer change of the same record
    SUPPRESSED = "suppressed"  # policy forbids sending it (a marketing action without consent)
    DEAD = "dead"  # attempt budget spent; replayable
    CANCELLED = "cancelled"  # withdrawn before sending: it would re-send an erased person's data


# Receipts a worker may claim: new ones, and leased ones whose lease has run out.
RECEIPT_CLAIMABLE = (ReceiptStatus.PENDING, ReceiptStatus.PROCESSING)
# Rows still owed to their destination: they hold back later changes of the same record.
OUTBOX_LIVE = (OutboxStatus.PENDING, OutboxStatus.INFLIGHT)
# Rows whose change reached (or was folded into one that reached) the destination.
OUTBOX_SETTLED = (OutboxStatus.DELIVERED, OutboxStatus.SUPERSEDED)
