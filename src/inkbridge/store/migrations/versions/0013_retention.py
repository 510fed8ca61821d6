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
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("purged_at")
