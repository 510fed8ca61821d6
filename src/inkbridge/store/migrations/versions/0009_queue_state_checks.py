"""queue state checks: the database refuses a receipt or outbox status the code does not know

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

``webhook_receipts.status`` and ``outbox.status`` gain CHECK constraints listing the states of
``ReceiptStatus`` and ``OutboxStatus`` (written out here: a revision must not change when the
enums do). Batch mode so SQLite, which cannot add a constraint in place, rebuilds the tables.
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"

RECEIPT_STATES = ("pending", "processing", "done", "ignored", "failed")
OUTBOX_STATES = ("pending", "inflight", "delivered", "superseded", "suppressed", "dead")


def _one_of(states: tuple[str, ...]) -> str:
    return "status IN ({})".format(", ".join(f"'{state}'" for state in states))


def upgrade() -> None:
    with op.batch_alter_table("webhook_receipts") as batch:
        batch.create_check_constraint(op.f("ck_webhook_receipts_status"), _one_of(RECEIPT_STATES))
    with op.batch_alter_table("outbox") as batch:
        batch.create_check_constraint(op.f("ck_outbox_status"), _one_of(OUTBOX_STATES))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_constraint(op.f("ck_outbox_status"), type_="check")
    with op.batch_alter_table("webhook_receipts") as batch:
        batch.drop_constraint(op.f("ck_webhook_receipts_status"), type_="check")
