"""Retention categories: how long each kind of stored data may be kept, and the one rule no
window may break (evidence is kept, because purging it would break the hash chains that prove
it intact).

Every column of the schema names one category (``store.classification``); ``[retention]`` in
the configuration gives the windowed ones a window, and the retention run purges what is due.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum


class RetentionCategory(StrEnum):
    """What a stored value is kept for, and so which window (if any) applies to it."""

    # Raw webhook bodies and headers; the receipt row and its dedup key are RECORDS.
    RECEIPT_BODIES = "receipt_bodies"
    # Appended touches (and when an anonymous visitor was first seen).
    TOUCHPOINTS = "touchpoints"
    # The personal fields of a lead that never got an envelope.
    UNCONVERTED_LEADS = "unconverted_leads"
    # Settled outbox rows (their payloads) and the delivery attempts made for them.
    DELIVERY_ATTEMPTS = "delivery_attempts"
    # The consent ledger, the audit log and the event log: hash-chained, kept.
    EVIDENCE = "evidence"
    # The record inkbridge works from (envelopes, recipients, dedup keys, credentials): no
    # window; it goes with erasure, not with age.
    RECORDS = "records"


# The categories a window may be configured for, in the order a run reports them.
WINDOWED = (
    RetentionCategory.RECEIPT_BODIES,
    RetentionCategory.TOUCHPOINTS,
    RetentionCategory.UNCONVERTED_LEADS,
    RetentionCategory.DELIVERY_ATTEMPTS,
)

EVIDENCE_IS_KEPT = (
    "evidence (the consent ledger, the audit log and the event log) is kept: they are "
    "hash-chained, and purging entries would break the chains `inkbridge verify` proves"
)


def cutoff(now: datetime, window: timedelta) -> datetime:
    """The moment before which a value of a category with ``window`` is due for purging."""
    if window <= timedelta(0):
        raise ValueError("a retention window must be positive")
    return now - window


def iso_duration(window: timedelta | None) -> str:
    """``window`` as ISO 8601 (``P30D``, ``PT1H30M``, ``PT0.5S``), or ``keep`` for none."""
    if window is None:
        return "keep"
    days = window.days
    seconds = window.seconds
    micros = window.microseconds
    text = f"P{days}D" if days else "P"
    if seconds or micros or not days:
        hours, rest = divmod(seconds, 3600)
        minutes, secs = divmod(rest, 60)
        text += "T"
        if hours:
            text += f"{hours}H"
        if minutes:
            text += f"{minutes}M"
        if secs or micros or (not hours and not minutes):
            text += f"{secs}.{micros:06d}".rstrip("0").rstrip(".") + "S"
    return text
