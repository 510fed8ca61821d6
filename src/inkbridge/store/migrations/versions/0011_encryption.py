"""encryption at rest: data keys, sealed personal columns, the lead's phone

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-04

``data_keys`` holds one wrapped data key per subject (and the region's blind-index key).
``webhook_receipts`` gains its inline wrapped key (``body_key``, ``body_kek_id``) and the lead
the worker linked it to. ``leads`` gains ``phone``. The personal columns that were VARCHAR
become TEXT: a sealed value is longer than the plain one and PostgreSQL enforces the lengths.

Rows written before this revision stay as they are (plain); the code reads both. Sealing them
needs the region's key, which the migration does not have.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"

TS = sa.DateTime(timezone=True)

# (table, column, length before): the personal VARCHAR columns that become TEXT.
WIDENED = (
    ("leads", "email", 320),
    ("leads", "first_name", 200),
    ("leads", "last_name", 200),
    ("leads", "company", 200),
    ("recipients", "email", 320),
    ("recipients", "name", 200),
    ("signer_sessions", "redeemed_ip", 64),
    ("signer_sessions", "redeemed_user_agent", 200),
)


def upgrade() -> None:
    op.create_table(
        "data_keys",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("region", sa.String(length=40), nullable=False),
        sa.Column("subject_type", sa.String(length=40), nullable=False),
        sa.Column("subject_id", sa.String(length=200), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("kek_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("shredded_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_keys")),
        sa.UniqueConstraint("subject_type", "subject_id", name="uq_data_keys_subject"),
    )
    op.create_index(op.f("ix_data_keys_kek_id"), "data_keys", ["kek_id"], unique=False)
    with op.batch_alter_table("webhook_receipts") as batch:
        batch.add_column(sa.Column("body_key", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("body_kek_id", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("lead_id", sa.String(length=40), nullable=True))
        batch.create_index(op.f("ix_webhook_receipts_lead_id"), ["lead_id"], unique=False)
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("phone", sa.Text(), nullable=True))
    if _is_sqlite():
        return
    for table in ("leads", "recipients", "signer_sessions"):
        with op.batch_alter_table(table) as batch:
            for name, column, length in WIDENED:
                if name == table:
                    batch.alter_column(
                        column, type_=sa.Text(), existing_type=sa.String(length=length)
                    )


def _is_sqlite() -> bool:
    # SQLite does not enforce VARCHAR lengths, and changing a type there rebuilds the table,
    # which its foreign keys refuse while other rows point at it: only PostgreSQL widens.
    return bool(op.get_bind().dialect.name == "sqlite")


def downgrade() -> None:
    for table in ("signer_sessions", "recipients", "leads") if not _is_sqlite() else ():
        with op.batch_alter_table(table) as batch:
            for name, column, length in WIDENED:
                if name == table:
                    batch.alter_column(
                        column, type_=sa.String(length=length), existing_type=sa.Text()
                    )
    # Not in batch mode: rebuilding leads would trip the foreign keys pointing at it (SQLite
    # drops a column in place since 3.35).
    op.drop_column("leads", "phone")
    with op.batch_alter_table("webhook_receipts") as batch:
        batch.drop_index(op.f("ix_webhook_receipts_lead_id"))
        batch.drop_column("lead_id")
        batch.drop_column("body_kek_id")
        batch.drop_column("body_key")
    op.drop_index(op.f("ix_data_keys_kek_id"), table_name="data_keys")
    op.drop_table("data_keys")
