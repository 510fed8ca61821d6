"""The one classification of vendor answers: retryable statuses and ``Retry-After``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from inkbridge.errors import PermanentError, RetryableError
from inkbridge.vendor_http.responses import (
    RETRYABLE_STATUSES,
    is_retryable_status,
    parse_retry_after,
    raise_for_answer,
    raise_for_status,
    ratelimit_reset,
    retry_after,
    wait_hint,
)

NOW = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)


def answer(status: int, headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
    return httpx.Response(status, headers=headers, **kw)


# -- which statuses heal by waiting ---------------------------------------------------------


@pytest.mark.parametrize("status", [408, 425, 429, 500, 501, 502, 503, 504, 599])
def test_timeouts_too_early_rate_limits_and_server_errors_are_retryable(status: int) -> None:
    assert is_retryable_status(status)
    with pytest.raises(RetryableError) as caught:
        raise_for_status("vendor", answer(status))
    assert caught.value.reason == f"vendor answered {status}"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 410, 412, 422])
def test_any_other_client_error_is_permanent(status: int) -> None:
    assert not is_retryable_status(status)
    with pytest.raises(PermanentError):
        raise_for_status("vendor", answer(status))


def test_the_retryable_set_is_decided_once() -> None:
    assert frozenset({408, 425, 429}) == RETRYABLE_STATUSES


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_a_success_raises_nothing(status: int) -> None:
    raise_for_status("vendor", answer(status))


def test_a_vendor_code_that_means_later_is_retryable_whatever_the_status() -> None:
    response = answer(400)
    with pytest.raises(RetryableError) as caught:
        raise_for_status(
            "docusign", response, "HOURLY_LIMIT", retryable_codes=frozenset({"HOURLY_LIMIT"})
        )
    assert caught.value.reason == "docusign answered 400 (HOURLY_LIMIT)"


def test_the_reason_names_the_short_code_never_the_message() -> None:
    response = answer(400, json={"category": "VALIDATION_ERROR", "message": "jane@example.com"})
    with pytest.raises(PermanentError) as caught:
        raise_for_answer("hubspot", response)
    assert caught.value.reason == "hubspot answered 400 (VALIDATION_ERROR)"
    assert "jane" not in str(caught.value)


# -- Retry-After in both forms --------------------------------------------------------------


def test_retry_after_in_seconds() -> None:
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after(" 1.5 ", NOW) == 1.5


def test_retry_after_as_an_http_date_is_the_real_wait() -> None:
    assert parse_retry_after("Mon, 02 Mar 2026 10:01:30 GMT", NOW) == 90.0


def test_retry_after_as_a_date_in_the_past_means_now() -> None:
    assert parse_retry_after("Mon, 02 Mar 2026 09:00:00 GMT", NOW) == 0.0


def test_a_negative_retry_after_means_now() -> None:
    assert parse_retry_after("-5", NOW) == 0.0


@pytest.mark.parametrize("value", ["soon", "", "   ", "Mon, 99 Foo 2026", None])
def test_garbage_or_no_retry_after_says_nothing(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


def test_a_retryable_answer_carries_the_vendors_wait_in_either_form() -> None:
    seconds = answer(429, {"Retry-After": "7"})
    dated = answer(503, {"Retry-After": "Mon, 02 Mar 2026 10:00:30 GMT"})

    assert retry_after(seconds, NOW) == 7.0
    assert retry_after(dated, NOW) == 30.0
    assert wait_hint(dated, clock=lambda: NOW.timestamp()) == 30.0
    with pytest.raises(RetryableError) as caught:
        raise_for_status("vendor", seconds)
    assert caught.value.retry_after == 7.0


def test_without_retry_after_the_rate_limit_reset_is_the_wait() -> None:
    clock = NOW.timestamp
    as_delay = answer(429, {"X-RateLimit-Reset": "12"})
    as_unix_time = answer(429, {"X-RateLimit-Reset": str(int(NOW.timestamp()) + 40)})

    assert wait_hint(as_delay, clock) == 12.0
    assert wait_hint(as_unix_time, clock) == 40.0
    assert ratelimit_reset({"x-ratelimit-reset": "later"}, clock) is None
    assert wait_hint(answer(429), clock) is None


def test_retry_after_wins_over_the_rate_limit_reset() -> None:
    response = answer(429, {"Retry-After": "3", "X-RateLimit-Reset": "60"})
    assert wait_hint(response, NOW.timestamp) == 3.0
