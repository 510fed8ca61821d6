"""``[retention]``: windows as seconds or ISO 8601, positive or absent; evidence only kept."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from inkbridge.config import Settings
from inkbridge.domain.retention import RetentionCategory, iso_duration


def test_windows_are_read_as_iso_8601_or_seconds_and_absent_ones_keep() -> None:
    settings = Settings.model_validate(
        {"retention": {"receipt_bodies": "P30D", "touchpoints": 3600, "interval": "PT10M"}}
    )

    retention = settings.retention
    assert retention.window(RetentionCategory.RECEIPT_BODIES) == timedelta(days=30)
    assert retention.window(RetentionCategory.TOUCHPOINTS) == timedelta(hours=1)
    assert retention.window(RetentionCategory.UNCONVERTED_LEADS) is None
    assert retention.window(RetentionCategory.EVIDENCE) is None
    assert retention.interval == timedelta(minutes=10)
    assert retention.enforced
    assert not Settings().retention.enforced


@pytest.mark.parametrize("value", ["P30D", "forever", "drop"])
def test_evidence_admits_only_keep_and_says_why(value: str) -> None:
    with pytest.raises(ValidationError, match="hash-chained"):
        Settings.model_validate({"retention": {"evidence": value}})


@pytest.mark.parametrize("value", [0, -5, "PT0S"])
def test_a_window_that_is_not_positive_is_refused(value: object) -> None:
    with pytest.raises(ValidationError, match="positive"):
        Settings.model_validate({"retention": {"delivery_attempts": value}})


def test_an_unknown_retention_key_is_refused() -> None:
    with pytest.raises(ValidationError, match="logs"):
        Settings.model_validate({"retention": {"logs": "P7D"}})


@pytest.mark.parametrize(
    ("window", "text"),
    [
        (None, "keep"),
        (timedelta(days=30), "P30D"),
        (timedelta(hours=1, minutes=30), "PT1H30M"),
        (timedelta(days=1, seconds=5), "P1DT5S"),
        (timedelta(seconds=0.5), "PT0.5S"),
    ],
)
def test_windows_are_shown_as_iso_8601(window: timedelta | None, text: str) -> None:
    assert iso_duration(window) == text
