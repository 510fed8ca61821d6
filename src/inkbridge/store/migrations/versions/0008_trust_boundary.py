"""trust boundary: token lifecycle, publishable keys, anonymous visitors, signer sessions

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

``api_tokens`` gains an expiry, a last-use time and the successor of a rotation.
``publishable_keys`` holds the capture-only keys of the public endpoints with their allowed
origins; ``anonymous_visitors`` when the server first saw each anonymous id; ``signer_sessions``
the one-time signing links (token hashes only) and the evidence of who redeemed them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", TS, nullable=True))
        batch.add_column(sa.Column("last_used_at", TS, nullable=True))
        batch.add_column(sa.Column("rotated_to", sa.String(length=40), nullable=True))
    op.create_table(
        "publishable_keys",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("origins", sa.JSON(), nullable=False),
        sa.Column("region", sa.String(length=40), nullable=True),
        sa.Column("rate_per_minute", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_publishable_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_publishable_keys_key_hash")),
    )
    op.create_table(
        "anonymous_visitors",
        sa.Column("anonymous_id", sa.String(length=100), nullable=False),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("anonymous_id", name=op.f("pk_anonymous_visitors")),
    )
    op.create_table(
        "signer_sessions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("envelope_id", sa.String(length=40), nullable=False),
        sa.Column("recipient_id", sa.String(length=200), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("subject_hash", sa.String(length=64), nullable=False),
        sa.Column("auth_method", sa.String(length=40), nullable=False),
        sa.Column("authenticated_at", TS, nullable=False),
        sa.Column("return_url", sa.Text(), nullable=True),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("redeemed_at", TS, nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("redeemed_ip", sa.String(length=64), nullable=True),
        sa.Column("redeemed_user_agent", sa.String(length=200), nullable=True),
        sa.Column("correlation_id", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["envelope_id"],
            ["envelopes.id"],
            name=op.f("fk_signer_sessions_envelope_id_envelopes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signer_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_signer_sessions_token_hash")),
    )
    op.create_index(
        op.f("ix_signer_sessions_envelope_id"), "signer_sessions", ["envelope_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_signer_sessions_envelope_id"), table_name="signer_sessions")
    op.drop_table("signer_sessions")
    op.drop_table("anonymous_visitors")
    op.drop_table("publishable_keys")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("rotated_to")
        batch.drop_column("last_used_at")
        batch.drop_column("expires_at")
