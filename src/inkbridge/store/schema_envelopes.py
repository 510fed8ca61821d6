"""The envelopes table, with the report columns copied onto it and the indexes the reports
read (PostgreSQL's time-to-sign group indexes among them); ``schema`` exports it with the
other tables, on the same metadata."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    func,
    literal_column,
)

from inkbridge.domain.intervals import INTERVAL_COLUMNS
from inkbridge.store.schema_base import TS, metadata

# What the time-to-sign report groups by, and the milestones of the funnel's stages (latest
# first); both lead report indexes of envelopes.
REPORT_KEYS = ("utm_campaign", "utm_medium", "template_key", "template_version")
FUNNEL_MILESTONES = ("completed_at", "first_signed_at", "first_viewed_at", "sent_at")

envelopes = Table(
    "envelopes",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("region", String(40), nullable=False),
    Column("lead_id", String(40), ForeignKey("leads.id")),
    Column("connection", String(100), nullable=False),
    Column("provider", String(40), nullable=False),
    Column("provider_envelope_id", String(200)),
    Column("template_key", String(100)),
    Column("template_version", Integer),
    Column("correlation_id", String(40), nullable=False, index=True),
    Column("state", String(30), nullable=False),
    Column("delivery_failed", Boolean, nullable=False, default=False),
    Column("conflicts", JSON, nullable=False),
    Column("milestones", JSON, nullable=False),
    Column("attribution", JSON, nullable=False),
    Column("metadata", JSON, nullable=False),
    Column("linked", Boolean, nullable=False, default=True),
    Column("needs_reconcile", Boolean, nullable=False, default=False),
    Column("last_reconciled_at", TS),
    # Denormalised for reports (the JSON columns stay the record): milestones and first touch.
    Column("sent_at", TS),
    Column("first_viewed_at", TS),
    Column("first_signed_at", TS),
    Column("completed_at", TS),
    Column("declined_at", TS),
    Column("voided_at", TS),
    Column("expired_at", TS),
    Column("first_reminder_at", TS),
    Column("utm_source", String(200)),
    Column("utm_medium", String(200)),
    Column("utm_campaign", String(200)),
    # Time to sign (domain.intervals): the lead's creation, copied when the envelope gets its
    # lead, and each interval in milliseconds, NULL when either of its moments is missing.
    Column("lead_created_at", TS),
    Column("lead_to_sent_ms", BigInteger),
    Column("sent_to_first_view_ms", BigInteger),
    Column("first_view_to_completed_ms", BigInteger),
    Column("sent_to_first_reminder_ms", BigInteger),
    Column("sent_to_completed_ms", BigInteger),
    Column("version", Integer, nullable=False, default=0),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    UniqueConstraint("connection", "provider_envelope_id", name="uq_envelopes_provider_ref"),
    Index("ix_envelopes_reconcile", "needs_reconcile", "state"),
    Index("ix_envelopes_report", "utm_campaign", "template_key", "created_at"),
    # Report indexes (migration 0018). The funnel's: each lead's envelopes and the milestones
    # that place them (it also serves every lookup by lead). Time to sign's: its grouping
    # columns in order, the cohort, the intervals.
    Index("ix_envelopes_funnel", "lead_id", *FUNNEL_MILESTONES, "declined_at", "expired_at"),
    Index("ix_envelopes_time_to_sign", *REPORT_KEYS, "lead_created_at", *INTERVAL_COLUMNS),
)


# How time to sign labels a missing group key (its own group, named so).
NONE_LABEL = "(none)"


def labelled(column: ColumnElement[str | None]) -> ColumnElement[str]:
    """A group key as time to sign groups by it: the value, or NONE_LABEL. The label is SQL
    text rather than a parameter so that the expression matches the indexes below."""
    return func.coalesce(column, literal_column(f"'{NONE_LABEL}'"))


# PostgreSQL only (migration 0019): per time-to-sign grouping, an index in the order of its
# keys holding the cohort and the intervals, so that the grouped percentile_cont reads each
# group's rows in order (index only) instead of sorting every envelope by group first; template
# and template version share one. The raw key column is included because an index-only scan
# reads columns, not expressions. SQLite reads ix_envelopes_time_to_sign instead.
TIME_TO_SIGN_VALUES = ("lead_created_at", *INTERVAL_COLUMNS)
POSTGRES_ONLY_INDEXES = tuple(
    Index(name, *keys, postgresql_include=[raw, *TIME_TO_SIGN_VALUES]).ddl_if(dialect="postgresql")
    for name, keys, raw in (
        ("ix_envelopes_tts_campaign", [labelled(envelopes.c.utm_campaign)], "utm_campaign"),
        ("ix_envelopes_tts_channel", [labelled(envelopes.c.utm_medium)], "utm_medium"),
        (
            "ix_envelopes_tts_template",
            [labelled(envelopes.c.template_key), envelopes.c.template_version],
            "template_key",
        ),
    )
)
