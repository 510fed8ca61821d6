"""``inkbridge doctor``'s clock row: each vendor's ``Date`` is compared with this machine's clock
when that answer arrived, so a run that waits on slow vendors does not make the first answers
look stale; a clock off by more than the allowed skew fails naming the vendor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from inkbridge.services.diagnosis import Status, clock_check

NOON = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
SKEW = timedelta(seconds=60)


def test_an_early_answer_is_judged_at_its_arrival_not_at_the_end_of_the_run() -> None:
    # docusign answered at noon; pandadoc answered 90 s later, after slow vendors in between.
    answers = [
        ("docusign", NOON, NOON),
        ("pandadoc", NOON + timedelta(seconds=90), NOON + timedelta(seconds=90)),
    ]

    row = clock_check(answers, SKEW)

    assert row.status is Status.PASS
    assert row.detail.startswith("0 s")


def test_a_clock_ahead_of_a_vendor_by_more_than_the_skew_fails_naming_it() -> None:
    answers = [
        ("docusign", NOON, NOON + timedelta(seconds=1)),
        ("pandadoc", NOON, NOON + timedelta(seconds=75)),
    ]

    row = clock_check(answers, SKEW)

    assert row.status is Status.FAIL
    assert row.detail == "75 s ahead of pandadoc (at most 60 s)"


def test_a_second_of_rounding_is_forgiven_and_no_date_is_not_checked() -> None:
    assert clock_check([("hubspot", NOON, NOON - timedelta(seconds=61))], SKEW).status is (
        Status.PASS
    )
    assert clock_check([], SKEW).status is Status.NOT_CHECKED
