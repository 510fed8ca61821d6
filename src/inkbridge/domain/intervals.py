"""The time-to-sign intervals of one envelope: which two moments each one spans, and its length
in whole milliseconds.

They are computed once, whenever an envelope's milestones are written, and stored next to them,
so the time-to-sign report reads five integers per envelope instead of doing date arithmetic
(and a join to its lead) on every row. An interval is NULL when either of its moments is
missing. Its length is the exact difference of the two moments, rounded to the nearest
millisecond with halves away from zero (what SQL's ``round`` does), so the migration that fills
existing rows in SQL arrives at the same integers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

# (interval, later moment, earlier moment). The lead's creation is copied onto the envelope as
# ``lead_created_at``; the others are the envelope's milestones.
INTERVAL_SPANS: tuple[tuple[str, str, str], ...] = (
    ("lead_to_sent", "sent_at", "lead_created_at"),
    ("sent_to_first_view", "first_viewed_at", "sent_at"),
    ("first_view_to_completed", "completed_at", "first_viewed_at"),
    ("sent_to_first_reminder", "first_reminder_at", "sent_at"),
    ("sent_to_completed", "completed_at", "sent_at"),
)
INTERVALS = tuple(name for name, _, _ in INTERVAL_SPANS)
INTERVAL_COLUMNS = tuple(f"{name}_ms" for name in INTERVALS)
# Every moment an interval starts or ends at.
INTERVAL_MOMENTS = tuple(dict.fromkeys(m for _, *pair in INTERVAL_SPANS for m in pair))

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def rounded_ms(microseconds: int) -> int:
    """Microseconds to the nearest millisecond, halves away from zero."""
    whole, rest = divmod(abs(microseconds), 1000)
    ms = whole + (rest >= 500)
    return ms if microseconds >= 0 else -ms


def epoch_us(moment: datetime) -> int:
    """An aware moment as whole microseconds since the Unix epoch (exact)."""
    return (moment - _EPOCH) // _MICROSECOND


def interval_columns_us(moments: Mapping[str, int | None]) -> dict[str, int | None]:
    """The interval columns (``<interval>_ms``) from moments given in epoch microseconds;
    moments missing from ``moments`` count as unknown."""
    out: dict[str, int | None] = {}
    for name, later_name, earlier_name in INTERVAL_SPANS:
        later, earlier = moments.get(later_name), moments.get(earlier_name)
        out[f"{name}_ms"] = (
            None if later is None or earlier is None else rounded_ms(later - earlier)
        )
    return out


def interval_columns(moments: Mapping[str, datetime | None]) -> dict[str, int | None]:
    """The interval columns (``<interval>_ms``) from the envelope's milestones and its lead's
    ``lead_created_at``; moments missing from ``moments`` count as unknown."""
    return interval_columns_us(
        {
            name: epoch_us(moment)
            for name in INTERVAL_MOMENTS
            if (moment := moments.get(name)) is not None
        }
    )
