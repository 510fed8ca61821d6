"""residency: a receipt may be parked as refused for residency

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10

``webhook_receipts.status`` gains ``refused_residency`` (a receipt that names a lead or envelope
of another region). The CHECK constraint is rebuilt with the states written out here, as 0009
did; batch mode so SQLite rebuilds the table.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"

BEFORE = ("pending", "processing", "done", "ignored", "failed")
AFTER = (*BEFORE, "refused_residency")


def _one_of(states: tuple[str, ...]) -> str:
    return "status IN ({})".format(", ".join(f"'{state}'" for state in states))


def _check(states: tuple[str, ...]) -> None:
    with op.batch_alter_table("webhook_receipts") as batch:
        batch.drop_constraint(op.f("ck_webhook_receipts_status"), type_="check")
        batch.create_check_constraint(op.f("ck_webhook_receipts_status"), _one_of(states))


def upgrade() -> None:
    _check(AFTER)


def downgrade() -> None:
    # A refused receipt has no earlier state to go back to: it is parked as failed.
    op.execute("UPDATE webhook_receipts SET status = 'failed' WHERE status = 'refused_residency'")
    _check(BEFORE)
