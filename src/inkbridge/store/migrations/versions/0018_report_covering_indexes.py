"""report indexes: time to sign and the funnel each read one covering index

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03

``ix_envelopes_time_to_sign`` holds, for every envelope, the four columns a time-to-sign report
groups by (first-touch campaign and medium, template, template version), then the cohort (the
lead's creation) and the five intervals in milliseconds. The report groups by all four columns
and regroups in Python as asked: SQLite reads the index in order, without touching the table
and without sorting for the GROUP BY; a cohort filter is a condition on the same index.

``ix_envelopes_funnel`` (lead id, then the six milestones that place an envelope in the funnel)
replaces ``ix_envelopes_lead_id``: the funnel's per-lead stages and its "has an envelope" probe
read it alone, and every lookup by lead is served by its first column, as before. Same number
of indexes on envelopes, but this one also changes when a milestone is first recorded.
"""

from __future__ import annotations

from alembic import op

revision = "0018"
down_revision = "0017"

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
# The milestones of the funnel's stages and exits (as of 0003_report_columns).
MILESTONES = ["completed_at", "first_signed_at", "first_viewed_at", "sent_at"]
EXITS = ["declined_at", "expired_at"]


def upgrade() -> None:
    op.create_index("ix_envelopes_time_to_sign", "envelopes", COLUMNS)
    op.create_index("ix_envelopes_funnel", "envelopes", ["lead_id", *MILESTONES, *EXITS])
    op.drop_index("ix_envelopes_lead_id", table_name="envelopes")


def downgrade() -> None:
    op.create_index("ix_envelopes_lead_id", "envelopes", ["lead_id"])
    op.drop_index("ix_envelopes_funnel", table_name="envelopes")
    op.drop_index("ix_envelopes_time_to_sign", table_name="envelopes")
