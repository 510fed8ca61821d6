"""retention: when a lead's personal fields were purged for age

Revision ID: 0013
Revises: 0009
Create Date: 2026-12-10

A lead that never got an envelope keeps its id, region and creation time after the retention
run purges its personal fields (the consent ledger still points at it); ``purged_at`` says when,
so a later run skips it and a reader can tell a purged lead from one captured without a name.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    # A plain ADD COLUMN on every backend: a batch rebuild of ``leads`` on SQLite would drop a
    # table other rows point at, which its foreign keys refuse once there is data.
    op.add_column("leads", sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # SQLite drops a column in place since 3.35 (2021); a batch rebuild would drop `leads`.
    op.drop_column("leads", "purged_at")
