"""journey touches: each conversion's attributed journey, kept at write time

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26

``journey_touches`` holds one row per touch of each conversion's journey, stored in journey
order (primary key (envelope, position); WITHOUT ROWID on SQLite, so the rows are the key's
B-tree), for the default stitching window. The attribution report reads it instead of
assembling journeys at query time. This revision only creates the table: the existing rows'
journeys are filled once the schema is at head (``inkbridge.store.migrate`` calls
``attribution_journeys.ensure_built``), with the statement the write paths use, so a later
revision can change what that statement reads; measured in bench/REPORTS.md.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "journey_touches",
        sa.Column("envelope_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("lead_id", sa.String(length=40), nullable=False),
        sa.Column("touches", sa.Integer(), nullable=False),
        sa.Column("created_position", sa.Integer(), nullable=False),
        sa.Column("sent_position", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("campaign", sa.String(length=200), nullable=True),
        sa.Column("age_days", sa.Float(), nullable=False),
        sa.Column("since_first_days", sa.Float(), nullable=False),
        sa.Column("lead_created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_campaign", sa.String(length=200), nullable=True),
        sa.Column("template_key", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("envelope_id", "position", name=op.f("pk_journey_touches")),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("journey_touches")
