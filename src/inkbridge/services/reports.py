"""Signing analytics: the funnel, time-to-sign percentiles and multi-touch attribution, across
every region.

Owns the use cases and the shape of their answers; the SQL lives in ``store.report_queries`` and
``store.attribution_query``. Each report runs per region and merges: counts and credits add up;
percentiles are computed over the merged values of every region (never averaged), except on a
single PostgreSQL region, where ``percentile_cont`` does the sorting in the server.

Percentiles interpolate linearly between the two closest ranks, the definition of
PostgreSQL's ``percentile_cont`` (see ``percentiles``).

Every report is a plain dict: ``report``, the ``filters`` it applied, ``columns`` (the order of
the row keys, also the CSV header), ``rows`` and ``totals``; ``report_format`` renders them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from queue import Queue
from typing import Any

from sqlalchemy import Connection

from inkbridge.domain.attribution_models import (
    DEFAULT_HALF_LIFE_DAYS,
    DEFAULT_STITCH_WINDOW,
    Model,
)
from inkbridge.domain.intervals import INTERVALS
from inkbridge.errors import InvalidInput
from inkbridge.services.percentiles import percentile, percentile_of_runs
from inkbridge.store.attribution_query import (
    CreditBy,
    attribution_credits,
    conversion_count,
)
from inkbridge.store.database import Databases, RegionDatabase
from inkbridge.store.report_queries import (
    FUNNEL_EXITS,
    FUNNEL_STAGES,
    TIME_TO_SIGN_KEYS,
    GroupBy,
    ReportFilter,
    funnel_lead_counts,
    funnel_stage_counts,
    group_columns,
    grouped_key,
    interval_percentiles,
    interval_value_lists,
)

__all__ = [
    "DEFAULT_HALF_LIFE_DAYS",
    "DEFAULT_STITCH_WINDOW",
    "CreditBy",
    "GroupBy",
    "Model",
    "ReportFilter",
    "attribution_report",
    "funnel_report",
    "percentile",
    "time_to_sign_report",
]

PERCENTILES = (0.5, 0.9)
# The order of funnel_stage_counts' columns.
ENVELOPE_COUNTS = ("sent", "viewed", "signed", "completed", *FUNNEL_EXITS)
REPORT_WORK_MEM = "64MB"
SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")
PERCENTILE_METHOD = "linear interpolation between closest ranks (percentile_cont)"


@contextmanager
def _reading(db: RegionDatabase, snapshot: str | None = None) -> Iterator[Connection]:
    """A reader; on PostgreSQL, with ``snapshot``, one that sees what the reader that exported
    it (``pg_export_snapshot``) sees."""
    with db.reader() as conn:
        if snapshot is not None:
            if not SNAPSHOT_ID.fullmatch(snapshot):
                raise ValueError(f"not a snapshot id: {snapshot!r}")
            conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        if db.is_postgres:
            # Compiling these one-off aggregations costs more than it saves (1.5 s of a 6 s
            # attribution at a million envelopes); SET LOCAL ends with the read.
            conn.exec_driver_sql("SET LOCAL jit = off")
            # Time to sign's percentiles sort every interval's values, per group and for the
            # total (a million each): at the default 4 MB they spill to disk and take a third
            # longer. Reports run one at a time per reader; the setting ends with the read.
            conn.exec_driver_sql(f"SET LOCAL work_mem = '{REPORT_WORK_MEM}'")
        yield conn


def _pct(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(100.0 * part / whole, 2)


# --- funnel ---------------------------------------------------------------------------------


def funnel_report(
    databases: Databases, report_filter: ReportFilter | None = None
) -> dict[str, Any]:
    """Leads of the cohort at each stage, with the drop-off from the stage before, plus the
    leads with a declined or an expired envelope. Every stage counts leads; a lead's envelope
    stage is the furthest any of its envelopes reached."""
    report_filter = report_filter or ReportFilter()
    counts = dict.fromkeys((*FUNNEL_STAGES, *FUNNEL_EXITS), 0)
    for db in databases:
        with _reading(db) as conn:
            captured, qualified = conn.execute(funnel_lead_counts(report_filter)).one()
            stages = conn.execute(funnel_stage_counts(report_filter)).one()
        counts["captured"] += int(captured)
        counts["qualified"] += int(qualified)
        for name, value in zip(ENVELOPE_COUNTS, stages, strict=True):
            counts[name] += int(value)
    captured_total = counts["captured"]
    rows: list[dict[str, Any]] = []
    previous: int | None = None
    for step, stage in enumerate(FUNNEL_STAGES, start=1):
        count = counts[stage]
        rows.append(
            {
                "step": step,
                "stage": stage,
                "count": count,
                "drop_off_pct": None if previous is None else _pct(previous - count, previous),
                "conversion_pct": _pct(count, captured_total),
            }
        )
        previous = count
    for stage in FUNNEL_EXITS:
        # Exits are not steps: no drop-off, and their share is of the captured leads too.
        rows.append(
            {
                "step": None,
                "stage": stage,
                "count": counts[stage],
                "drop_off_pct": None,
                "conversion_pct": _pct(counts[stage], captured_total),
            }
        )
    return {
        "report": "funnel",
        "filters": report_filter.as_dict(),
        "columns": ["step", "stage", "count", "drop_off_pct", "conversion_pct"],
        "rows": rows,
        "totals": {**counts, "overall_conversion_pct": _pct(counts["completed"], captured_total)},
    }


# --- time to sign ---------------------------------------------------------------------------


def _seconds(milliseconds: float | None) -> float | None:
    # Intervals are stored in whole milliseconds; an interpolated percentile's fraction of a
    # millisecond is not worth reporting.
    return None if milliseconds is None else round(milliseconds / 1000, 3)


Key = tuple[Any, ...]
# Per group key, per interval: (count, p50, p90).
Summary = dict[Key, list[tuple[int, float | None, float | None]]]


def _summarise(
    per_group: Sequence[Sequence[list[float]]],
) -> list[tuple[int, float | None, float | None]]:
    """Per interval, the count and percentiles of the values of several groups taken together
    (never an average of the groups'): read from each group's sorted values by bisection
    (``percentile_of_runs``), without merging them."""
    out: list[tuple[int, float | None, float | None]] = []
    for i in range(len(INTERVALS)):
        runs = [columns[i] for columns in per_group]
        count = sum(len(run) for run in runs)
        out.append((count, percentile_of_runs(runs, 0.5), percentile_of_runs(runs, 0.9)))
    return out


def _collect_values(
    conn: Connection,
    report_filter: ReportFilter,
    dialect: str,
    into: dict[Key, list[list[float]]],
) -> None:
    """Add one region's interval values (whole milliseconds) to ``into``, by the finest group
    (``TIME_TO_SIGN_KEYS``; regions accumulate), each list sorted. The rows are read on another
    thread while these are parsed and sorted: the database steps without holding the GIL."""
    width = len(TIME_TO_SIGN_KEYS)
    result = conn.execute(interval_value_lists(report_filter, dialect))
    with ThreadPoolExecutor(max_workers=1) as pool:
        rows: Queue[Any] = Queue()
        reading = pool.submit(_read_into, result, rows)
        while (row := rows.get()) is not _END:
            columns = into.setdefault(tuple(row[:width]), [[] for _ in INTERVALS])
            for target, joined in zip(columns, row[width:], strict=True):
                if joined:
                    # json parses a list of integers in C, faster than splitting and parsing
                    # each; they become floats (exact below 2**53) because CPython sorts floats
                    # faster than ints of 2**30 ms (12 days) and more. Sorting again after
                    # another region's values merges two sorted runs.
                    target.extend(map(float, json.loads(f"[{joined}]")))
                    target.sort()
        reading.result()


_END = object()


def _read_into(rows: Iterable[Any], queue: Queue[Any]) -> None:
    try:
        for row in rows:
            queue.put(row)
    finally:
        queue.put(_END)


def _python_summary(
    values: dict[Key, list[list[float]]], group_by: GroupBy
) -> tuple[Summary, list[tuple[int, float | None, float | None]]]:
    """The finest groups' sorted values read together by bisection for each
    of the report's groups and for the total: sorting a few hundred short lists and bisecting
    across them costs less than joining them into the report's groups and sorting those."""
    members: dict[Key, list[list[list[float]]]] = {}
    for key, columns in values.items():
        members.setdefault(grouped_key(group_by, key), []).append(columns)
    groups = {key: _summarise(finest) for key, finest in members.items()}
    return groups, _summarise(list(values.values()))


def _postgres_rows(
    rows: Iterable[Any], width: int, groups: Summary
) -> list[tuple[int, float | None, float | None]]:
    """Read ``interval_percentiles`` rows into ``groups``; returns the total's, if any."""
    total: list[tuple[int, float | None, float | None]] = []
    for row in rows:
        summary = []
        for i in range(len(INTERVALS)):
            count, fractions = row[1 + width + 2 * i], row[2 + width + 2 * i]
            p50, p90 = fractions if fractions is not None else (None, None)
            summary.append((int(count), p50, p90))
        if row[0]:
            total = summary
            if not width:  # ungrouped: the total is also the one group
                groups[()] = summary
        else:
            groups[tuple(row[1 : 1 + width])] = summary
    return total


def _postgres_total(
    db: RegionDatabase, snapshot: str, report_filter: ReportFilter
) -> list[tuple[int, float | None, float | None]]:
    with _reading(db, snapshot) as conn:
        rows = conn.execute(interval_percentiles(report_filter, GroupBy.NONE, PERCENTILES))
        return _postgres_rows(rows.all(), 0, {})


def _postgres_summary(
    db: RegionDatabase, report_filter: ReportFilter, group_by: GroupBy
) -> tuple[Summary, list[tuple[int, float | None, float | None]]]:
    """Grouped, the groups' percentiles and the total's are two sorts of every value: they run
    at once, on two connections that read one snapshot (the server has a core for each)."""
    width = len(group_columns(group_by))
    groups: Summary = {}
    with _reading(db) as conn:
        if not width:
            rows = conn.execute(interval_percentiles(report_filter, group_by, PERCENTILES))
            total = _postgres_rows(rows, 0, groups)
        else:
            snapshot = str(conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one())
            with ThreadPoolExecutor(max_workers=1) as pool:
                overall = pool.submit(_postgres_total, db, snapshot, report_filter)
                statement = interval_percentiles(
                    report_filter, group_by, PERCENTILES, with_total=False
                )
                _postgres_rows(conn.execute(statement), width, groups)
                total = overall.result()
    return groups, total or [(0, None, None)] * len(INTERVALS)


def time_to_sign_report(
    databases: Databases,
    report_filter: ReportFilter | None = None,
    group_by: GroupBy = GroupBy.NONE,
) -> dict[str, Any]:
    """p50 and p90, in seconds, of lead→sent, sent→first view, first view→completed,
    sent→first reminder and sent→completed, per group and overall."""
    report_filter = report_filter or ReportFilter()
    regions = list(databases)
    if len(regions) == 1 and regions[0].is_postgres:
        groups, total = _postgres_summary(regions[0], report_filter, group_by)
    else:
        values: dict[Key, list[list[float]]] = {}
        for db in regions:
            with _reading(db) as conn:
                _collect_values(conn, report_filter, db.engine.dialect.name, values)
        groups, total = _python_summary(values, group_by)
    key_names = [c.name for c in group_columns(group_by)]
    rows = [
        {
            **dict(zip(key_names, key, strict=True)),
            "interval": name,
            "count": count,
            "p50_seconds": _seconds(p50),
            "p90_seconds": _seconds(p90),
        }
        for key, summary in sorted(groups.items(), key=lambda item: _sort_key(item[0]))
        for name, (count, p50, p90) in zip(INTERVALS, summary, strict=True)
        if count
    ]
    return {
        "report": "time_to_sign",
        "filters": {**report_filter.as_dict(), "group_by": group_by.value},
        "method": PERCENTILE_METHOD,
        "columns": [*key_names, "interval", "count", "p50_seconds", "p90_seconds"],
        "rows": rows,
        "totals": {
            name: {"count": count, "p50_seconds": _seconds(p50), "p90_seconds": _seconds(p90)}
            for name, (count, p50, p90) in zip(INTERVALS, total, strict=True)
        },
    }


def _sort_key(key: Key) -> tuple[tuple[bool, Any], ...]:
    # Nones last; the placeholder is never compared with a real value of another type.
    return tuple((part is None, 0 if part is None else part) for part in key)


# --- attribution ----------------------------------------------------------------------------


def attribution_report(
    databases: Databases,
    report_filter: ReportFilter | None = None,
    *,
    models: Sequence[Model] = tuple(Model),
    credit_by: CreditBy = CreditBy.CHANNEL,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
    stitch_window: timedelta = DEFAULT_STITCH_WINDOW,
) -> dict[str, Any]:
    """Completed envelopes of the cohort credited to channels, campaigns or sources under each
    model; one conversion's credit adds up to 1 whatever the model.

    Journeys are read as stored at write time for the default stitching window; any other
    ``stitch_window`` assembles them at query time (same credits, several times slower)."""
    report_filter = report_filter or ReportFilter()
    if not models:
        raise InvalidInput("name at least one attribution model", field="model")
    if not half_life_days > 0:
        raise InvalidInput("must be a positive number of days", field="half_life_days")
    credits: dict[str, list[float]] = {}
    conversions = 0
    for db in databases:
        statement = attribution_credits(
            report_filter,
            models=models,
            credit_by=credit_by,
            half_life_days=half_life_days,
            window=stitch_window,
            dialect=db.engine.dialect.name,
        )
        with _reading(db) as conn:
            conversions += int(conn.execute(conversion_count(report_filter)).scalar_one())
            for key, *sums in conn.execute(statement):
                acc = credits.setdefault(key, [0.0] * len(models))
                for i, value in enumerate(sums):
                    acc[i] += float(value or 0.0)
    names = [m.value for m in models]
    rows = [
        {credit_by.value: key, **{n: round(v, 6) for n, v in zip(names, sums, strict=True)}}
        for key, sums in sorted(credits.items(), key=lambda item: (-item[1][0], item[0]))
    ]
    return {
        "report": "attribution",
        "filters": {
            **report_filter.as_dict(),
            "credit_by": credit_by.value,
            "models": names,
            "half_life_days": half_life_days,
            "stitch_window_days": stitch_window.total_seconds() / 86400,
        },
        "columns": [credit_by.value, *names],
        "rows": rows,
        "totals": {
            "conversions": conversions,
            **{n: round(sum(s[i] for s in credits.values()), 6) for i, n in enumerate(names)},
        },
    }
