"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "audit_log",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("region", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("subject_id", sa.String(length=100), nullable=True),
        sa.Column("correlation_id", sa.String(length=40), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_audit_log_correlation_id"), ["correlation_id"], unique=False
        )

    op.create_table(
        "chain_heads",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_chain_heads")),
    )
    op.create_table(
        "deliveries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("outbox_id", sa.BigInteger(), nullable=False),
        sa.Column("destination", sa.String(length=100), nullable=False),
        sa.Column("batch_id", sa.String(length=40), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deliveries_outbox_id"), ["outbox_id"], unique=False)

    op.create_table(
        "leads",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("region", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("email_hash", sa.String(length=64), nullable=True),
        sa.Column("first_name", sa.String(length=200), nullable=True),
        sa.Column("last_name", sa.String(length=200), nullable=True),
        sa.Column("company", sa.String(length=200), nullable=True),
        sa.Column("anonymous_id", sa.String(length=100), nullable=True),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("qualified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_touch", sa.JSON(), nullable=False),
        sa.Column("correlation_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leads")),
    )
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_leads_anonymous_id"), ["anonymous_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_leads_correlation_id"), ["correlation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_leads_email_hash"), ["email_hash"], unique=False)

    op.create_table(
        "outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("region", sa.String(length=40), nullable=False),
        sa.Column("destination", sa.String(length=100), nullable=False),
        sa.Column("idempotency_key", sa.String(length=300), nullable=False),
        sa.Column("record_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("correlation_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("destination", "idempotency_key", name="uq_outbox_fact"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_outbox_claim", ["destination", "status", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_outbox_correlation_id"), ["correlation_id"], unique=False
        )
        batch_op.create_index("ix_outbox_record", ["destination", "record_key", "id"], unique=False)

    op.create_table(
        "webhook_receipts",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("region", sa.String(length=40), nullable=False),
        sa.Column("connection", sa.String(length=100), nullable=False),
        sa.Column("dedup_key", sa.String(length=500), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("content_type", sa.String(length=200), nullable=True),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("correlation_id", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_receipts")),
        sa.UniqueConstraint("connection", "dedup_key", name="uq_webhook_receipts_dedup"),
    )
    with op.batch_alter_table("webhook_receipts", schema=None) as batch_op:
        batch_op.create_index("ix_webhook_receipts_claim", ["status", "id"], unique=False)

    op.create_table(
        "consent_records",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("region", sa.String(length=40), nullable=False),
        sa.Column("lead_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("text_version_id", sa.String(length=100), nullable=True),
        sa.Column("text_sha256", sa.String(length=64), nullable=True),
        sa.Column("locale", sa.String(length=20), nullable=True),
        sa.Column("jurisdiction", sa.String(length=20), nullable=True),
        sa.Column("method", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_consent_records_lead_id_leads")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_records")),
    )
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_records_lead_id"), ["lead_id"], unique=False)

    op.create_table(
        "envelopes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("region", sa.String(length=40), nullable=False),
        sa.Column("lead_id", sa.String(length=40), nullable=True),
        sa.Column("connection", sa.String(length=100), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("provider_envelope_id", sa.String(length=200), nullable=True),
        sa.Column("template_key", sa.String(length=100), nullable=True),
        sa.Column("template_version", sa.Integer(), nullable=True),
        sa.Column("correlation_id", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=30), nullable=False),
        sa.Column("delivery_failed", sa.Boolean(), nullable=False),
        sa.Column("conflicts", sa.JSON(), nullable=False),
        sa.Column("milestones", sa.JSON(), nullable=False),
        sa.Column("attribution", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("linked", sa.Boolean(), nullable=False),
        sa.Column("needs_reconcile", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name=op.f("fk_envelopes_lead_id_leads")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_envelopes")),
        sa.UniqueConstraint("connection", "provider_envelope_id", name="uq_envelopes_provider_ref"),
    )
    with op.batch_alter_table("envelopes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_envelopes_correlation_id"), ["correlation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_envelopes_lead_id"), ["lead_id"], unique=False)

    op.create_table(
        "touchpoints",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("region", sa.String(length=40), nullable=False),
        sa.Column("lead_id", sa.String(length=40), nullable=True),
        sa.Column("anonymous_id", sa.String(length=100), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("utm_source", sa.String(length=200), nullable=True),
        sa.Column("utm_medium", sa.String(length=200), nullable=True),
        sa.Column("utm_campaign", sa.String(length=200), nullable=True),
        sa.Column("utm_term", sa.String(length=200), nullable=True),
        sa.Column("utm_content", sa.String(length=200), nullable=True),
        sa.Column("click_ids", sa.JSON(), nullable=False),
        sa.Column("referrer", sa.Text(), nullable=True),
        sa.Column("landing_page", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_touchpoints_lead_id_leads")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_touchpoints")),
    )
    with op.batch_alter_table("touchpoints", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_touchpoints_anonymous_id"), ["anonymous_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_touchpoints_lead_id"), ["lead_id"], unique=False)

    op.create_table(
        "envelope_events",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("region", sa.String(length=40), nullable=False),
        sa.Column("envelope_id", sa.String(length=40), nullable=False),
        sa.Column("receipt_id", sa.BigInteger(), nullable=False),
        sa.Column("event_index", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("vendor_event", sa.String(length=100), nullable=False),
        sa.Column("recipient_id", sa.String(length=200), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("from_state", sa.String(length=30), nullable=False),
        sa.Column("to_state", sa.String(length=30), nullable=False),
        sa.Column("correlation_id", sa.String(length=40), nullable=True),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["envelope_id"], ["envelopes.id"], name=op.f("fk_envelope_events_envelope_id_envelopes")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_envelope_events")),
        sa.UniqueConstraint("receipt_id", "event_index", name="uq_envelope_events_receipt"),
    )
    with op.batch_alter_table("envelope_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_envelope_events_envelope_id"), ["envelope_id"], unique=False
        )

    op.create_table(
        "recipients",
        sa.Column("envelope_id", sa.String(length=40), nullable=False),
        sa.Column("recipient_id", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["envelope_id"], ["envelopes.id"], name=op.f("fk_recipients_envelope_id_envelopes")
        ),
        sa.PrimaryKeyConstraint("envelope_id", "recipient_id", name=op.f("pk_recipients")),
    )


def downgrade() -> None:
    op.drop_table("recipients")
    with op.batch_alter_table("envelope_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_envelope_events_envelope_id"))

    op.drop_table("envelope_events")
    with op.batch_alter_table("touchpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_touchpoints_lead_id"))
        batch_op.drop_index(batch_op.f("ix_touchpoints_anonymous_id"))

    op.drop_table("touchpoints")
    with op.batch_alter_table("envelopes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_envelopes_lead_id"))
        batch_op.drop_index(batch_op.f("ix_envelopes_correlation_id"))

    op.drop_table("envelopes")
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_records_lead_id"))

    op.drop_table("consent_records")
    with op.batch_alter_table("webhook_receipts", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_receipts_claim")

    op.drop_table("webhook_receipts")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_record")
        batch_op.drop_index(batch_op.f("ix_outbox_correlation_id"))
        batch_op.drop_index("ix_outbox_claim")

    op.drop_table("outbox")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_leads_email_hash"))
        batch_op.drop_index(batch_op.f("ix_leads_correlation_id"))
        batch_op.drop_index(batch_op.f("ix_leads_anonymous_id"))

    op.drop_table("leads")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_outbox_id"))

    op.drop_table("deliveries")
    op.drop_table("chain_heads")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_correlation_id"))

    op.drop_table("audit_log")
    op.drop_table("api_tokens")
