"""Backoff, token bucket and circuit breaker, with time passed in."""

from __future__ import annotations

import random

from inkbridge.domain.delivery_policy import (
    RECEIPT_RETRY,
    CircuitBreaker,
    RetryPolicy,
    TokenBucket,
    backoff_seconds,
)


def test_backoff_doubles_within_jitter_and_is_capped() -> None:
    rng = random.Random(1)
    for attempt in range(1, 12):
        ceiling = min(60.0, 1.0 * 2 ** (attempt - 1))
        delay = backoff_seconds(attempt, 1.0, 60.0, rng)
        assert ceiling / 2 <= delay <= ceiling


def test_receipts_retry_after_a_jittered_doubling_from_two_seconds_capped_at_five_minutes() -> None:
    rng = random.Random(7)
    waits = {attempt: RECEIPT_RETRY.delay(attempt, rng) for attempt in range(1, 10)}
    # The ceiling the inbox used before the policy was shared: min(300, 2 ** attempts).
    for attempt, wait in waits.items():
        ceiling = min(300.0, 2.0**attempt)
        assert ceiling / 2 <= wait <= ceiling, attempt
    assert waits[9] >= 150.0
    # Jitter: two receipts failing together do not come back together.
    assert len({round(RECEIPT_RETRY.delay(3, rng), 6) for _ in range(20)}) > 1


def test_the_retry_budget_ends_at_the_last_attempt() -> None:
    assert [RECEIPT_RETRY.gives_up(n) for n in (1, 9, 10, 11)] == [False, False, True, True]
    outbox_like = RetryPolicy(max_attempts=3, base_seconds=1.0, cap_seconds=60.0)
    assert [outbox_like.gives_up(n) for n in (1, 2, 3)] == [False, False, True]


def test_both_queues_draw_the_same_backoff_for_the_same_numbers() -> None:
    policy = RetryPolicy(max_attempts=8, base_seconds=1.0, cap_seconds=300.0)
    for attempt in range(1, 12):
        same = policy.delay(attempt, random.Random(attempt))
        assert same == backoff_seconds(attempt, 1.0, 300.0, random.Random(attempt))


def test_the_bucket_allows_a_burst_then_paces_at_its_rate() -> None:
    bucket = TokenBucket(rate=10.0, burst=10.0, updated_at=0.0)
    assert all(bucket.take(0.0) for _ in range(10))
    assert not bucket.take(0.0)
    assert abs(bucket.wait_time(0.0) - 0.1) < 1e-9
    assert bucket.take(0.1)


def test_retry_after_pauses_the_bucket() -> None:
    bucket = TokenBucket(rate=10.0, burst=10.0, updated_at=0.0)
    bucket.pause(0.0, 5.0)
    assert bucket.wait_time(1.0) == 4.0
    assert not bucket.take(4.9)
    assert bucket.take(5.5)


def test_the_circuit_opens_after_repeated_failures_and_half_opens_after_cooldown() -> None:
    breaker = CircuitBreaker(threshold=3, cooldown=10.0)
    for now in (0.0, 1.0, 2.0):
        assert breaker.allows(now)
        breaker.record_failure(now)
    assert breaker.is_open and not breaker.allows(5.0)
    assert breaker.allows(12.0)
    breaker.record_success()
    assert not breaker.is_open
