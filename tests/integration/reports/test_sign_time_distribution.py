"""The time-to-sign distribution (``services.sign_time_distribution``) on real databases, over
the generated report data set: the buckets of hand-checkable intervals, and agreement with the
time-to-sign report's counts under a filter."""

from __future__ import annotations

import pytest

from inkbridge.errors import InvalidInput
from inkbridge.services.reports import ReportFilter, time_to_sign_report
from inkbridge.services.sign_time_distribution import distribution
from inkbridge.store.database import Databases


def _counts(databases: Databases, report_filter: ReportFilter, interval: str) -> list[int]:
    return [bucket.count for bucket in distribution(databases, report_filter, interval)]


def test_the_buckets_count_each_interval_once(loaded: Databases) -> None:
    # 90 values of 1..90 min: 59 under an hour, 31 from one to four hours.
    assert _counts(loaded, ReportFilter(), "sent_to_first_view") == [59, 31, 0, 0, 0, 0]
    # 30 values of 1..30 days: 1 and 2 days, 3 to 6 days, then 7 days and more.
    assert _counts(loaded, ReportFilter(), "sent_to_first_reminder") == [0, 0, 0, 2, 4, 24]


def test_the_distribution_counts_what_the_report_counts(loaded: Databases) -> None:
    spring = ReportFilter(campaign="spring")
    report = time_to_sign_report(loaded, spring)
    for interval, totals in report["totals"].items():
        assert sum(_counts(loaded, spring, interval)) == totals["count"], interval
    assert sum(_counts(loaded, spring, "sent_to_completed")) == 17


def test_an_unknown_interval_is_refused(loaded: Databases) -> None:
    with pytest.raises(InvalidInput):
        distribution(loaded, ReportFilter(), "sent_to_lunch")
