"""report columns: envelope milestones and first-touch campaign as plain columns

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

MILESTONES = (
    "sent_at",
    "first_viewed_at",
    "first_signed_at",
    "completed_at",
    "declined_at",
    "voided_at",
    "expired_at",
    "first_reminder_at",
)
UTM = ("utm_source", "utm_medium", "utm_campaign")


def upgrade() -> None:
    with op.batch_alter_table("envelopes") as batch:
        for name in MILESTONES:
            batch.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))
        for name in UTM:
            batch.add_column(sa.Column(name, sa.String(length=200), nullable=True))
        batch.create_index("ix_envelopes_report", ["utm_campaign", "template_key", "created_at"])


def downgrade() -> None:
    with op.batch_alter_table("envelopes") as batch:
        batch.drop_index("ix_envelopes_report")
        for name in (*MILESTONES, *UTM):
            batch.drop_column(name)
