"""outbox live indexes: delivery claims read the backlog's front, whatever its size

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-14

A claim looks for the oldest due change of each record: the live rows (pending or in flight)
of a destination in id order, each kept only when its record has no older live row. Both halves
are served by partial indexes over the live rows alone: ``ix_outbox_live`` (destination, id)
gives the walk in order, ``ix_outbox_live_record`` (destination, record_key, id) answers "an
older live row of this record?" in one index step. Settled history is in neither.

``ix_outbox_claim`` (destination, status, next_attempt_at) goes: it held every row ever written,
and a guarded move by id (``id IN (…) AND status = 'inflight'``) was planned, without
statistics, as a scan of that whole index rather than primary-key lookups. Dead letters, which
the metrics count and the console lists per destination, get ``ix_outbox_dead`` (destination,
id) over dead rows only. One index fewer for every outbox write.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# The predicate the claim's SQL repeats word for word (SQLite matches it term by term). The
# always-true destination term keeps guarded moves by id (which name no destination) off these
# indexes.
LIVE = "destination IS NOT NULL AND status IN ('pending', 'inflight')"
DEAD = "status = 'dead'"


def upgrade() -> None:
    op.drop_index("ix_outbox_claim", table_name="outbox")
    op.create_index(
        "ix_outbox_dead",
        "outbox",
        ["destination", "id"],
        postgresql_where=sa.text(DEAD),
        sqlite_where=sa.text(DEAD),
    )
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
    op.drop_index("ix_outbox_dead", table_name="outbox")
    op.create_index("ix_outbox_claim", "outbox", ["destination", "status", "next_attempt_at"])
