"""The tables of one region's database. Every region has the same schema in its own database.

Append-only tables (envelope_events, audit_log, consent_records, touchpoints) are never updated
by the code; their rows are hash-chained so a verifier can prove them intact. The tables that
govern access and privacy (tokens, keys, signer sessions, erasures, data keys) are defined in
``schema_governance``, envelopes and their report indexes in ``schema_envelopes``, the stored
attribution journeys in ``schema_journeys``; all are exported from here, on the same metadata.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from inkbridge.domain.queue_states import OUTBOX_LIVE, OutboxStatus, ReceiptStatus
from inkbridge.store.schema_base import SEQ, TS
from inkbridge.store.schema_base import metadata as metadata
from inkbridge.store.schema_envelopes import FUNNEL_MILESTONES as FUNNEL_MILESTONES
from inkbridge.store.schema_envelopes import NONE_LABEL as NONE_LABEL
from inkbridge.store.schema_envelopes import POSTGRES_ONLY_INDEXES as POSTGRES_ONLY_INDEXES
from inkbridge.store.schema_envelopes import REPORT_KEYS as REPORT_KEYS
from inkbridge.store.schema_envelopes import envelopes as envelopes
from inkbridge.store.schema_envelopes import labelled as labelled
from inkbridge.store.schema_governance import api_tokens as api_tokens
from inkbridge.store.schema_governance import console_sessions as console_sessions
from inkbridge.store.schema_governance import data_keys as data_keys
from inkbridge.store.schema_governance import erasures as erasures
from inkbridge.store.schema_governance import publishable_keys as publishable_keys
from inkbridge.store.schema_governance import signer_sessions as signer_sessions
from inkbridge.store.schema_journeys import journey_touches as journey_touches


def _one_of(states: type[StrEnum]) -> str:
    """A CHECK expression admitting exactly ``states`` in the ``status`` column."""
    return "status IN ({})".format(", ".join(f"'{state.value}'" for state in states))


def outbox_live_rows(alias: str = "") -> str:
    """The predicate of the partial indexes on live outbox rows (OUTBOX_LIVE), for ``alias``.

    A query uses those indexes only when its WHERE repeats this text (SQLite matches it term by
    term). ``destination IS NOT NULL`` (always true) is there so that only queries naming a
    destination can use them: a guarded move by id (``id IN … AND status = 'inflight'``) implies
    the status term alone, and a planner without statistics would otherwise walk every live
    row through the partial index instead of looking the ids up.
    """
    prefix = f"{alias}." if alias else ""
    states = ", ".join(f"'{state.value}'" for state in OUTBOX_LIVE)
    return f"{prefix}destination IS NOT NULL AND {prefix}status IN ({states})"


# The predicate of the partial index on dead letters; queries repeat it as text.
OUTBOX_DEAD_ROWS = f"status = '{OutboxStatus.DEAD.value}'"


def _where(predicate: str) -> dict[str, Any]:
    return {"postgresql_where": text(predicate), "sqlite_where": text(predicate)}


leads = Table(
    "leads",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("region", String(40), nullable=False),
    # Sealed personal fields (Text: ciphertext is longer); email_hash: the keyed blind index.
    Column("email", Text),
    Column("email_hash", String(64), index=True),
    Column("first_name", Text),
    Column("last_name", Text),
    Column("company", Text),
    Column("phone", Text),
    Column("anonymous_id", String(100), index=True),
    Column("owner", String(200)),
    Column("score", Integer, nullable=False, default=0),
    Column("qualified_at", TS),
    # First-touch attribution: frozen at creation, never overwritten.
    Column("first_touch", JSON, nullable=False),
    Column("correlation_id", String(40), nullable=False, index=True),
    Column("created_at", TS, nullable=False),
    # When the retention run purged the personal fields of this lead (it never got an envelope).
    Column("purged_at", TS),
    Index("ix_leads_cohort", "created_at", "qualified_at", "id"),
)


touchpoints = Table(
    "touchpoints",
    metadata,
    Column("id", SEQ, primary_key=True, autoincrement=True),
    Column("region", String(40), nullable=False),
    Column("lead_id", String(40), ForeignKey("leads.id"), index=True),
    Column("anonymous_id", String(100), index=True),
    Column("occurred_at", TS, nullable=False),
    Column("utm_source", String(200)),
    Column("utm_medium", String(200)),
    Column("utm_campaign", String(200)),
    Column("utm_term", String(200)),
    Column("utm_content", String(200)),
    Column("click_ids", JSON, nullable=False),
    Column("referrer", Text),
    Column("landing_page", Text),
)


consent_records = Table(
    "consent_records",
    metadata,
    Column("id", SEQ, primary_key=True, autoincrement=True),
    Column("region", String(40), nullable=False),
    Column("lead_id", String(40), ForeignKey("leads.id"), nullable=False, index=True),
    Column("kind", String(60), nullable=False),
    Column("status", String(20), nullable=False),
    Column("text_version_id", String(100)),
    Column("text_sha256", String(64)),
    Column("locale", String(20)),
    Column("jurisdiction", String(20)),
    Column("method", String(40), nullable=False),
    Column("source", String(200)),
    Column("occurred_at", TS, nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)


# Versioned consent texts: not personal data, so every region holds the same registry.
consent_texts = Table(
    "consent_texts",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(60), nullable=False),
    Column("title", String(200)),
    Column("locale", String(20)),
    Column("jurisdiction", String(20)),
    Column("text", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("created_at", TS, nullable=False),
)


recipients = Table(
    "recipients",
    metadata,
    Column("envelope_id", String(40), ForeignKey("envelopes.id"), primary_key=True),
    Column("recipient_id", String(200), primary_key=True),
    Column("email", Text),  # sealed
    Column("name", Text),  # sealed
    Column("status", String(20), nullable=False),
    Column("updated_at", TS, nullable=False),
)


webhook_receipts = Table(
    "webhook_receipts",
    metadata,
    Column("id", SEQ, primary_key=True, autoincrement=True),
    Column("region", String(40), nullable=False),
    Column("connection", String(100), nullable=False),
    Column("dedup_key", String(500), nullable=False),
    Column("source", String(20), nullable=False),  # webhook | reconcile
    Column("content_type", String(200)),
    # Sealed under its own key (body_key, wrapped under KEK body_kek_id); headers redacted.
    Column("headers", JSON, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("body_key", LargeBinary),
    Column("body_kek_id", String(40)),
    Column("lead_id", String(40), index=True),  # linked by the worker: erasure finds it
    Column("received_at", TS, nullable=False),
    Column("status", String(20), nullable=False),  # a ReceiptStatus
    Column("attempts", Integer, nullable=False, default=0),
    Column("lease_until", TS),
    Column("processed_at", TS),
    Column("error", Text),
    Column("correlation_id", String(40)),
    UniqueConstraint("connection", "dedup_key", name="uq_webhook_receipts_dedup"),
    Index("ix_webhook_receipts_claim", "status", "id"),
    # The console's webhooks per minute: a range of received_at, counted from the index alone.
    Index("ix_webhook_receipts_received", "received_at", "connection", "status"),
    CheckConstraint(_one_of(ReceiptStatus), name="status"),
)


envelope_events = Table(
    "envelope_events",
    metadata,
    Column("seq", SEQ, primary_key=True, autoincrement=True),
    Column("region", String(40), nullable=False),
    Column("envelope_id", String(40), ForeignKey("envelopes.id"), nullable=False, index=True),
    Column("receipt_id", BigInteger, nullable=False),
    Column("event_index", Integer, nullable=False),
    Column("event_type", String(40), nullable=False),
    Column("vendor_event", String(100), nullable=False),
    Column("recipient_id", String(200)),
    Column("occurred_at", TS, nullable=False),
    Column("received_at", TS, nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("from_state", String(30), nullable=False),
    Column("to_state", String(30), nullable=False),
    Column("correlation_id", String(40)),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("receipt_id", "event_index", name="uq_envelope_events_receipt"),
)


audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", SEQ, primary_key=True, autoincrement=True),
    Column("region", String(40), nullable=False),
    Column("at", TS, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(100), nullable=False),  # source:subject:action
    Column("subject_id", String(100)),
    Column("correlation_id", String(40), index=True),
    Column("details", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)


# One row per hash chain: the head every append links to, locked while appending.
chain_heads = Table(
    "chain_heads",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("last_hash", String(64), nullable=False),
    Column("length", BigInteger, nullable=False),
)


outbox = Table(
    "outbox",
    metadata,
    Column("id", SEQ, primary_key=True, autoincrement=True),
    Column("region", String(40), nullable=False),
    Column("destination", String(100), nullable=False),
    Column("idempotency_key", String(300), nullable=False),
    Column("record_key", String(200), nullable=False),  # per-record order and coalescing
    Column("kind", String(60), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(20), nullable=False),  # an OutboxStatus
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", TS, nullable=False),
    Column("lease_until", TS),
    Column("last_error", Text),
    Column("correlation_id", String(40), index=True),
    Column("created_at", TS, nullable=False),
    Column("delivered_at", TS),
    UniqueConstraint("destination", "idempotency_key", name="uq_outbox_fact"),
    # Dead letters only (migration 0017): counted and listed per destination, replayed.
    Index("ix_outbox_dead", "destination", "id", **_where(OUTBOX_DEAD_ROWS)),
    Index("ix_outbox_record", "destination", "record_key", "id"),
    # The live rows only (migration 0017): a claim walks them in id order and asks of each
    # whether its record has an older live row, so it reads the backlog's front, not history.
    Index("ix_outbox_live", "destination", "id", **_where(outbox_live_rows())),
    Index("ix_outbox_live_record", "destination", "record_key", "id", **_where(outbox_live_rows())),
    CheckConstraint(_one_of(OutboxStatus), name="status"),
)


deliveries = Table(
    "deliveries",
    metadata,
    Column("id", SEQ, primary_key=True, autoincrement=True),
    Column("outbox_id", BigInteger, nullable=False, index=True),
    Column("destination", String(100), nullable=False),
    Column("batch_id", String(40), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("started_at", TS, nullable=False),
    Column("finished_at", TS, nullable=False),
    Column("outcome", String(20), nullable=False),  # delivered | retry | dead | superseded
    Column("status_code", Integer),
    Column("error", Text),
)


# When the server first saw an anonymous visitor: no touch of theirs may be dated earlier.
anonymous_visitors = Table(
    "anonymous_visitors",
    metadata,
    Column("anonymous_id", String(100), primary_key=True),
    Column("first_seen_at", TS, nullable=False),
)


# A destination's request budget, shared by every worker process of the deployment (kept in the
# home region's database): a token bucket (``tokens`` as of ``refilled_at``) and the pause a
# vendor asked for (a 429's ``Retry-After``). store.destination_quota owns its rows.
destination_quota = Table(
    "destination_quota",
    metadata,
    Column("destination", String(100), primary_key=True),
    Column("tokens", Float, nullable=False),
    Column("refilled_at", TS, nullable=False),
    Column("paused_until", TS),
)
