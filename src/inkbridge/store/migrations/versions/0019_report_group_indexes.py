"""report group indexes: single-touch journeys, and time to sign's groups on PostgreSQL

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04

``ix_journey_touches_single`` (both backends) holds the journeys of one touch, partial on
``touches = 1``, keyed by channel, campaign and source, with the report's filter columns and
``touches`` (so that SQLite reads the index alone): such a touch takes credit 1 under every
model, so the attribution report with time decay (alone or with other models) counts them per
key from the index instead of crediting each and sorting it with the other touches.

PostgreSQL only: ``ix_envelopes_tts_campaign``, ``_channel`` and ``_template`` hold every
envelope in the order of one time-to-sign grouping (the labelled keys, template and template
version sharing one), with the cohort and the five intervals included, so that the grouped
``percentile_cont`` reads the groups in order from the index alone instead of sorting every
envelope by its group. SQLite groups by the columns of ``ix_envelopes_time_to_sign`` and reads
the percentiles in Python, so it does not get them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"

# The journeys' credit keys, the report's filter columns (as of 0007_journey_touches), and the
# predicate's column, which SQLite needs in the index to read it alone.
SINGLE_TOUCH_COLUMNS = [
    "channel",
    "campaign",
    "source",
    "lead_created_at",
    "first_campaign",
    "template_key",
    "touches",
]
# The cohort and the intervals in milliseconds (as of 0006_time_to_sign_columns).
VALUES = [
    "lead_created_at",
    "lead_to_sent_ms",
    "sent_to_first_view_ms",
    "first_view_to_completed_ms",
    "sent_to_first_reminder_ms",
    "sent_to_completed_ms",
]
# Name, key expressions, the raw key column (an index-only scan reads columns, not expressions).
GROUPINGS = [
    ("ix_envelopes_tts_campaign", ["coalesce(utm_campaign, '(none)')"], "utm_campaign"),
    ("ix_envelopes_tts_channel", ["coalesce(utm_medium, '(none)')"], "utm_medium"),
    (
        "ix_envelopes_tts_template",
        ["coalesce(template_key, '(none)')", "template_version"],
        "template_key",
    ),
]


def _postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def upgrade() -> None:
    op.create_index(
        "ix_journey_touches_single",
        "journey_touches",
        SINGLE_TOUCH_COLUMNS,
        postgresql_where=sa.text("touches = 1"),
        sqlite_where=sa.text("touches = 1"),
    )
    if _postgres():
        for name, keys, raw in GROUPINGS:
            op.create_index(
                name,
                "envelopes",
                [sa.text(key) for key in keys],
                postgresql_include=[raw, *VALUES],
            )


def downgrade() -> None:
    if _postgres():
        for name, _keys, _raw in reversed(GROUPINGS):
            op.drop_index(name, table_name="envelopes")
    op.drop_index("ix_journey_touches_single", table_name="journey_touches")
