"""time-to-sign columns: each envelope's milestone intervals, kept at write time

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26

The time-to-sign report read every envelope joined to its lead and did date arithmetic per
row. Envelopes now carry their lead's creation moment (``lead_created_at``, the report's cohort)
and the five intervals in whole milliseconds, written with the milestones
(``inkbridge.domain.intervals``). Existing rows are filled here in SQL with the same rule: the
exact difference of the two moments rounded to the nearest millisecond, halves away from zero.
SQLite keeps our timestamps as ``YYYY-MM-DD HH:MM:SS.ffffff`` text; its date functions resolve
milliseconds only, so the whole seconds come from ``strftime('%s')`` and the microseconds from
the text. PostgreSQL's ``extract(epoch)`` is exact.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"

# (column, later moment, earlier moment), as of this revision.
INTERVALS = (
    ("lead_to_sent_ms", "sent_at", "lead_created_at"),
    ("sent_to_first_view_ms", "first_viewed_at", "sent_at"),
    ("first_view_to_completed_ms", "completed_at", "first_viewed_at"),
    ("sent_to_first_reminder_ms", "first_reminder_at", "sent_at"),
    ("sent_to_completed_ms", "completed_at", "sent_at"),
)


MOMENTS = ("lead_created_at", "sent_at", "first_viewed_at", "completed_at", "first_reminder_at")
COLUMNS = ("id", "lead_id", *MOMENTS, *(name for name, _, _ in INTERVALS))
envelopes = sa.table("envelopes", *(sa.column(n) for n in COLUMNS))
leads = sa.table("leads", sa.column("id"), sa.column("created_at"))


def _sqlite_us(moment: str) -> sa.ColumnElement[int]:
    """A stored moment as epoch microseconds: whole seconds, plus the text's fraction."""
    text = envelopes.c[moment]
    seconds = sa.cast(sa.func.strftime("%s", sa.func.substr(text, 1, 19)), sa.BigInteger)
    fraction = sa.func.substr(sa.func.substr(text, 21, 6).concat("000000"), 1, 6)
    return seconds * 1_000_000 + sa.cast(fraction, sa.BigInteger)


def _interval_ms(later: str, earlier: str, dialect: str) -> sa.ColumnElement[int]:
    """NULL when either moment is; round() halves away from zero on both backends (on SQLite
    an exact half stays exact through the division by 1000.0)."""
    if dialect == "sqlite":
        difference = (_sqlite_us(later) - _sqlite_us(earlier)) / sa.literal(1000.0)
        return sa.cast(sa.func.round(difference), sa.BigInteger)
    seconds = sa.extract("epoch", envelopes.c[later]) - sa.extract("epoch", envelopes.c[earlier])
    return sa.cast(sa.func.round(seconds * 1000), sa.BigInteger)


def upgrade() -> None:
    with op.batch_alter_table("envelopes") as batch:
        batch.add_column(sa.Column("lead_created_at", sa.DateTime(timezone=True), nullable=True))
        for name, _, _ in INTERVALS:
            batch.add_column(sa.Column(name, sa.BigInteger(), nullable=True))
    dialect = op.get_bind().dialect.name
    lead_created = (
        sa.select(leads.c.created_at).where(leads.c.id == envelopes.c.lead_id).scalar_subquery()
    )
    op.execute(
        envelopes.update()
        .where(envelopes.c.lead_id.is_not(None))
        .values(lead_created_at=lead_created)
    )
    # Every interval starts or ends at sent or first view: envelopes with neither keep NULLs.
    op.execute(
        envelopes.update()
        .where(sa.or_(envelopes.c.sent_at.is_not(None), envelopes.c.first_viewed_at.is_not(None)))
        .values({name: _interval_ms(later, earlier, dialect) for name, later, earlier in INTERVALS})
    )


def downgrade() -> None:
    with op.batch_alter_table("envelopes") as batch:
        for name, _, _ in reversed(INTERVALS):
            batch.drop_column(name)
        batch.drop_column("lead_created_at")
