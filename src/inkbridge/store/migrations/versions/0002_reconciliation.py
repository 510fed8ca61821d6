"""reconciliation: when each envelope was last checked against its provider

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("envelopes") as batch:
        batch.add_column(sa.Column("last_reconciled_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_envelopes_reconcile", ["needs_reconcile", "state"])


def downgrade() -> None:
    with op.batch_alter_table("envelopes") as batch:
        batch.drop_index("ix_envelopes_reconcile")
        batch.drop_column("last_reconciled_at")
