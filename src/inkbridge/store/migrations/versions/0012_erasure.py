"""erasure: the erasures table, and the outbox's cancelled state

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-10

``erasures`` records each erased lead (one row per lead: a second request finds it).
``outbox.status`` admits ``cancelled``: changes withdrawn because they would re-send an erased
person's data. The states are written out here (a revision must not change when the enum does);
batch mode so SQLite, which cannot alter a constraint in place, rebuilds the table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"

OUTBOX_STATES = (
    "pending",
    "inflight",
    "delivered",
    "superseded",
    "suppressed",
    "dead",
    "cancelled",
)
PREVIOUS_OUTBOX_STATES = OUTBOX_STATES[:-1]


def _one_of(states: tuple[str, ...]) -> str:
    return "status IN ({})".format(", ".join(f"'{state}'" for state in states))


def _outbox_states(states: tuple[str, ...]) -> None:
    with op.batch_alter_table("outbox", recreate="always") as batch:
        batch.drop_constraint(op.f("ck_outbox_status"), type_="check")
        batch.create_check_constraint(op.f("ck_outbox_status"), _one_of(states))


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("region", sa.String(40), nullable=False),
        sa.Column("lead_id", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("destinations", sa.JSON(), nullable=False),
        sa.Column("cancelled_changes", sa.Integer(), nullable=False),
        sa.Column("correlation_id", sa.String(40), nullable=True),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name=op.f("fk_erasures_lead_id_leads")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasures")),
        sa.UniqueConstraint("lead_id", name=op.f("uq_erasures_lead_id")),
    )
    _outbox_states(OUTBOX_STATES)


def downgrade() -> None:
    _outbox_states(PREVIOUS_OUTBOX_STATES)
    op.drop_table("erasures")
