"""The reports the reports benchmark (bench/reports.py) times, each run several times on one
backend with its median kept against the target, and the Markdown table of the medians."""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from inkbridge.services.reports import (
    CreditBy,
    GroupBy,
    Model,
    ReportFilter,
    attribution_report,
    funnel_report,
    time_to_sign_report,
)
from inkbridge.store.database import Databases

# Issue 14: every report within a second (the first target was 2 s).
TARGET_SECONDS = 1.0
Report = Callable[[Databases], dict[str, Any]]


def report_suite() -> dict[str, Report]:
    quarter = ReportFilter(
        since=datetime(2026, 3, 1, tzinfo=UTC), until=datetime(2026, 6, 1, tzinfo=UTC)
    )
    suite: dict[str, Report] = {
        "funnel": funnel_report,
        "funnel (campaign email-01)": lambda d: funnel_report(d, ReportFilter(campaign="email-01")),
        "funnel (cohort Mar-May)": lambda d: funnel_report(d, quarter),
    }
    for group_by in GroupBy:
        suite[f"time_to_sign by {group_by.value}"] = functools.partial(
            time_to_sign_report, group_by=group_by
        )
    suite["time_to_sign by campaign (cohort Mar-May)"] = lambda d: time_to_sign_report(
        d, quarter, group_by=GroupBy.CAMPAIGN
    )
    for model in Model:
        suite[f"attribution {model.value}"] = functools.partial(attribution_report, models=[model])
    suite["attribution all six models"] = attribution_report
    suite["attribution linear by campaign"] = lambda d: attribution_report(
        d, models=[Model.LINEAR], credit_by=CreditBy.CAMPAIGN
    )
    suite["attribution all six models (cohort Mar-May)"] = lambda d: attribution_report(d, quarter)
    # Another stitching window than the stored one: journeys assembled at query time.
    suite["attribution linear, 14-day window (assembled)"] = lambda d: attribution_report(
        d, models=[Model.LINEAR], stitch_window=timedelta(days=14)
    )
    return suite


def time_reports(url: str, runs: int) -> dict[str, dict[str, Any]]:
    databases = Databases({"default": url}, "default")
    out: dict[str, dict[str, Any]] = {}
    try:
        for name, report in report_suite().items():
            seconds, cpu = [], []
            for _ in range(runs):
                begin, begin_cpu = time.perf_counter(), time.process_time()
                result = report(databases)
                seconds.append(round(time.perf_counter() - begin, 3))
                cpu.append(round(time.process_time() - begin_cpu, 3))
            median = statistics.median(seconds)
            out[name] = {
                "runs_s": seconds,
                "median_s": median,
                # This process's CPU time: all of the work on SQLite (embedded), the client's
                # share only on PostgreSQL. Less sensitive to other load than wall time.
                "median_cpu_s": statistics.median(cpu),
                "under_target": median <= TARGET_SECONDS,
                "rows": len(result["rows"]),
                "totals": result["totals"],
            }
            print(
                f"  {name:34} median {median:6.2f} s  cpu {statistics.median(cpu):5.2f} s  "
                f"runs {seconds}",
                flush=True,
            )
    finally:
        databases.dispose()
    return out


def print_markdown(results: dict[str, dict[str, dict[str, Any]]]) -> None:
    backends = list(results)
    print("\n| report | " + " | ".join(f"{b} median (s)" for b in backends) + " |")
    print("|---|" + "---:|" * len(backends))
    for name in results[backends[0]]:
        cells = []
        for backend in backends:
            entry = results[backend][name]
            mark = "" if entry["under_target"] else " ✗"
            cells.append(f"{entry['median_s']:.2f}{mark}")
        print(f"| {name} | " + " | ".join(cells) + " |")
