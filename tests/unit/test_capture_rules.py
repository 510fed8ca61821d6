"""The pure rules of the public capture endpoint: how a touch is dated, how request budgets
refill and stay bounded in memory, and what counts as an origin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from inkbridge.config import CaptureSettings
from inkbridge.domain.touch_times import public_touch_time, submitted_touch_time
from inkbridge.errors import InvalidInput, RateLimited
from inkbridge.services.publishable_keys import normalise_origin
from inkbridge.services.rate_limits import CaptureLimits, TokenBuckets

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
SKEW = timedelta(minutes=5)
MINUTE = timedelta(minutes=1)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- dating a touch -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        (None, NOW),
        (NOW - 4 * MINUTE, NOW - 4 * MINUTE),
        (NOW + 5 * MINUTE, NOW + 5 * MINUTE),  # the edge is inside
        (NOW - 6 * MINUTE, NOW),
        (NOW + 6 * MINUTE, NOW),
        (datetime(1970, 1, 1, tzinfo=UTC), NOW),
        (datetime(2026, 12, 3, 11, 58), NOW - 2 * MINUTE),  # naive: read as UTC
    ],
)
def test_a_public_touch_keeps_the_client_time_only_within_the_skew(
    hint: datetime | None, expected: datetime
) -> None:
    assert public_touch_time(hint, NOW, SKEW) == expected


def test_a_public_touch_is_never_earlier_than_the_visitor_was_first_seen() -> None:
    first_seen = NOW - MINUTE
    assert public_touch_time(NOW - 3 * MINUTE, NOW, SKEW, first_seen) == first_seen
    assert public_touch_time(NOW + MINUTE, NOW, SKEW, first_seen) == NOW + MINUTE


def test_a_submitted_touch_may_be_old_but_not_in_the_future_or_before_the_visitor() -> None:
    last_year = NOW - timedelta(days=365)
    assert submitted_touch_time(last_year, NOW, SKEW) == last_year
    assert submitted_touch_time(NOW + 4 * MINUTE, NOW, SKEW) == NOW + 4 * MINUTE
    assert submitted_touch_time(NOW + timedelta(days=1), NOW, SKEW) == NOW
    first_seen = NOW - timedelta(days=2)
    assert submitted_touch_time(last_year, NOW, SKEW, first_seen) == first_seen


# --- request budgets ----------------------------------------------------------------------


def test_a_bucket_admits_its_capacity_then_says_how_long_to_wait() -> None:
    clock = Clock()
    buckets = TokenBuckets(max_buckets=10, clock=clock)
    assert [buckets.take("ip", 3) for _ in range(3)] == [None, None, None]
    assert buckets.take("ip", 3) == 20  # 3 a minute: one token every 20 s
    clock.now += 15
    assert buckets.take("ip", 3) == 5
    clock.now += 5
    assert buckets.take("ip", 3) is None
    assert buckets.take("other", 3) is None  # buckets are per name


def test_the_wait_is_whole_seconds_and_at_least_one() -> None:
    clock = Clock()
    buckets = TokenBuckets(max_buckets=10, clock=clock)
    for _ in range(600):
        assert buckets.take("key", 600) is None
    assert buckets.take("key", 600) == 1  # 0.1 s rounds up to 1
    clock.now += 0.05
    assert buckets.take("key", 600) == 1


def test_idle_buckets_are_dropped_and_the_count_stays_bounded() -> None:
    clock = Clock()
    buckets = TokenBuckets(max_buckets=3, clock=clock)
    for n in range(3):
        buckets.take(f"ip-{n}", 60)
    assert len(buckets) == 3
    buckets.take("ip-3", 60)
    assert len(buckets) == 3  # the least recently used went
    clock.now += 61
    buckets.take("ip-4", 60)
    assert len(buckets) == 1  # the others were full again: nothing to remember
    for n in range(1000):
        buckets.take(f"flood-{n}", 60)
    assert len(buckets) == 3


def test_capture_limits_name_what_ran_out() -> None:
    clock = Clock()
    limits = CaptureLimits(
        CaptureSettings(rate_per_minute_per_ip=1, rate_per_minute_per_key=2), clock=clock
    )
    limits.admit_ip("198.51.100.1")
    with pytest.raises(RateLimited) as by_ip:
        limits.admit_ip("198.51.100.1")
    assert (by_ip.value.limit, by_ip.value.retry_after) == ("ip", 60)
    limits.admit_key("pk_1", None)
    limits.admit_key("pk_1", None)
    with pytest.raises(RateLimited) as by_key:
        limits.admit_key("pk_1", None)
    assert (by_key.value.limit, by_key.value.retry_after) == ("key", 30)
    for _ in range(5):
        limits.admit_key("pk_2", 5)  # the key's own rate wins over the default
    with pytest.raises(RateLimited):
        limits.admit_key("pk_2", 5)


# --- origins ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "origin"),
    [
        ("https://www.example.com", "https://www.example.com"),
        ("HTTPS://WWW.Example.COM/", "https://www.example.com"),
        ("https://www.example.com:443", "https://www.example.com"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_an_origin_is_written_as_a_browser_sends_it(given: str, origin: str) -> None:
    assert normalise_origin(given) == origin


@pytest.mark.parametrize(
    "given",
    [
        "*",
        "https://*.example.com",
        "www.example.com",
        "ftp://example.com",
        "https://example.com/path",
        "https://example.com?x=1",
        "https://user@example.com",
        "https://example.com:99999",
        "null",
    ],
)
def test_anything_but_an_origin_is_refused(given: str) -> None:
    with pytest.raises(InvalidInput):
        normalise_origin(given)
