"""receipts received index: the console's webhooks per minute read a range of received_at

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-12

The overview counts the receipts of the last 15 minutes per connection and status. Without an
index on ``received_at`` that is a scan of every receipt ever stored; with
``ix_webhook_receipts_received`` (received_at, connection, status) it is a range of the index,
read without touching the table.
"""

from __future__ import annotations

from alembic import op

revision = "0016"
down_revision = "0015"


def upgrade() -> None:
    op.create_index(
        "ix_webhook_receipts_received",
        "webhook_receipts",
        ["received_at", "connection", "status"],
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_receipts_received", table_name="webhook_receipts")
