"""report indexes: the lead cohort of the signing-analytics reports

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26

``ix_leads_cohort`` covers what the funnel reads of every lead (created_at for the cohort,
qualified_at, and the id its envelopes are matched by), so counting a million leads is an
index-only scan instead of a walk through rows carrying JSON. Measured in bench/REPORTS.md.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_index("ix_leads_cohort", "leads", ["created_at", "qualified_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_leads_cohort", table_name="leads")
