"""outbox live indexes: delivery claims read the backlog's front, whatever its size

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-14

A claim looks for the oldest due change of each record: the live rows (pending or in flight)
of a destination in id order, each kept only when its record has no older live row. Both halves
are served by partial indexes over the live rows alone: ``ix_outbox_live`` (destination, id)
gives the walk in order, ``ix_outbox_live_record`` (destination, record_key, id) answers "an
older live row of this record?" in one index step. Settled history is in neither, and the
planner needs no statistics to pick them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# The predicate the claim's SQL repeats word for word (SQLite matches it textually).
LIVE = "status IN ('pending', 'inflight')"


def upgrade() -> None:
    for name, columns in (
        ("ix_outbox_live", ["destination", "id"]),
        ("ix_outbox_live_record", ["destination", "record_key", "id"]),
    ):
        op.create_index(
            name, "outbox", columns, postgresql_where=sa.text(LIVE), sqlite_where=sa.text(LIVE)
        )


def downgrade() -> None:
    op.drop_index("ix_outbox_live_record", table_name="outbox")
    op.drop_index("ix_outbox_live", table_name="outbox")
