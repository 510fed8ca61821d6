"""destination quota: one request budget per destination, shared by every worker process

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-11

Each worker process used to pace a vendor's quota on its own, so N workers spent it N times
over. ``destination_quota`` holds one token bucket per destination (``tokens`` as of
``refilled_at``) and the pause a vendor asked for (``paused_until``); every process takes its
tokens from this row under a row lock.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"


def upgrade() -> None:
    op.create_table(
        "destination_quota",
        sa.Column("destination", sa.String(100), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("refilled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("destination", name=op.f("pk_destination_quota")),
    )


def downgrade() -> None:
    op.drop_table("destination_quota")
