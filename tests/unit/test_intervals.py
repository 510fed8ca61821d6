"""The time-to-sign intervals of one envelope: which moments they span, NULL when one is
missing, and milliseconds rounded exactly (halves away from zero), by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from inkbridge.domain.intervals import (
    INTERVAL_COLUMNS,
    epoch_us,
    interval_columns,
    interval_columns_us,
    rounded_ms,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
US = timedelta(microseconds=1)


def test_milliseconds_round_to_nearest_with_halves_away_from_zero() -> None:
    assert [rounded_ms(us) for us in (0, 499, 500, 1499, 1500, 2_000_000)] == [
        0,
        0,
        1,
        1,
        2,
        2000,
    ]
    assert [rounded_ms(us) for us in (-499, -500, -1500, -1501)] == [0, -1, -2, -2]


def test_each_interval_spans_its_two_moments() -> None:
    moments = {
        "lead_created_at": T0,
        "sent_at": T0 + timedelta(hours=2) + 500 * US,  # exactly half a millisecond over
        "first_viewed_at": T0 + timedelta(hours=3),
        "completed_at": T0 + timedelta(days=1),
        "first_reminder_at": T0 + timedelta(hours=2) - 1501 * US,  # before sent
    }
    assert interval_columns(moments) == {
        "lead_to_sent_ms": 7_200_001,
        "sent_to_first_view_ms": 3_600_000,  # 3 599 999.5 ms
        "first_view_to_completed_ms": 75_600_000,
        "sent_to_first_reminder_ms": -2,  # -2.001 ms
        "sent_to_completed_ms": 79_200_000,  # 79 199 999.5 ms
    }


def test_a_missing_moment_leaves_its_intervals_null() -> None:
    no_lead = interval_columns({"sent_at": T0, "completed_at": T0 + timedelta(seconds=90)})
    assert no_lead == {
        "lead_to_sent_ms": None,
        "sent_to_first_view_ms": None,
        "first_view_to_completed_ms": None,
        "sent_to_first_reminder_ms": None,
        "sent_to_completed_ms": 90_000,
    }
    assert interval_columns({"lead_created_at": T0, "sent_at": None}) == dict.fromkeys(
        INTERVAL_COLUMNS
    )


def test_epoch_microseconds_and_datetimes_give_the_same_columns() -> None:
    moments = {"lead_created_at": T0 - 123_456 * US, "sent_at": T0 + 987_654_321 * US}
    as_us = {name: epoch_us(moment) for name, moment in moments.items()}
    assert epoch_us(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC)) == 1_000_005
    assert interval_columns_us(as_us) == interval_columns(moments)
    assert interval_columns(moments)["lead_to_sent_ms"] == 987_778  # 987 777.777 ms
