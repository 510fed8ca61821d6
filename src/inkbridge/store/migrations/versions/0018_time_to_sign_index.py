"""time to sign index: the report reads one covering index, in its grouping order

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03

``ix_envelopes_time_to_sign`` holds, for every envelope, the four columns a time-to-sign report
groups by (first-touch campaign and medium, template, template version), then the cohort (the
lead's creation) and the five intervals in milliseconds. The report groups by all four columns
and regroups in Python as asked: SQLite reads the index in order, without touching the table
and without sorting for the GROUP BY; a cohort filter is a condition on the same index.
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# The grouping columns, the cohort, then the intervals (as of 0006_time_to_sign_columns).
GROUPING = ("utm_campaign", "utm_medium", "template_key", "template_version")
INTERVALS = (
    "lead_to_sent",
    "sent_to_first_view",
    "first_view_to_completed",
    "sent_to_first_reminder",
    "sent_to_completed",
)
COLUMNS = [*GROUPING, "lead_created_at", *(f"{name}_ms" for name in INTERVALS)]


def upgrade() -> None:
    op.create_index("ix_envelopes_time_to_sign", "envelopes", COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_envelopes_time_to_sign", table_name="envelopes")
