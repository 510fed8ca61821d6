"""How long signing takes, as a distribution: the envelopes of a report's cohort counted into
fixed time buckets of one interval (sent → completed by default), across every region. The
statement is the time-to-sign report's own (``store.report_queries``), so both agree."""

from __future__ import annotations

from dataclasses import dataclass

from inkbridge.domain.intervals import INTERVALS
from inkbridge.errors import InvalidInput
from inkbridge.store.database import Databases
from inkbridge.store.report_queries import TIME_TO_SIGN_KEYS, ReportFilter, interval_value_lists

HOUR_MS = 3_600_000
# Upper bounds in milliseconds; the last bucket is open.
BUCKETS: tuple[tuple[str, float], ...] = (
    ("< 1 h", HOUR_MS),
    ("1-4 h", 4 * HOUR_MS),
    ("4-24 h", 24 * HOUR_MS),
    ("1-3 d", 72 * HOUR_MS),
    ("3-7 d", 168 * HOUR_MS),
    ("> 7 d", float("inf")),
)


@dataclass(frozen=True)
class Bucket:
    label: str
    count: int


def distribution(
    databases: Databases, report_filter: ReportFilter, interval: str = "sent_to_completed"
) -> list[Bucket]:
    if interval not in INTERVALS:
        raise InvalidInput(f"must be one of {list(INTERVALS)}", field="interval")
    position = len(TIME_TO_SIGN_KEYS) + INTERVALS.index(interval)
    counts = [0] * len(BUCKETS)
    for db in databases:
        statement = interval_value_lists(report_filter, db.engine.dialect.name)
        with db.reader() as conn:
            lists = [row[position] for row in conn.execute(statement)]
        for joined in lists:
            for value in map(float, joined.split(",")) if joined else ():
                counts[next(i for i, (_, upper) in enumerate(BUCKETS) if value < upper)] += 1
    return [Bucket(label, count) for (label, _), count in zip(BUCKETS, counts, strict=True)]
