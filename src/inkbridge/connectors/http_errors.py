"""How connectors read an HTTP answer: which failures heal by retrying and how long to wait.

Shared by every HTTP destination so they classify alike: transport errors, timeouts, 408, 429
and 5xx are ``RetryableError`` (with the vendor's ``Retry-After`` when given); any other 4xx is
``PermanentError``. Reasons name the status only, never the payload, which may hold personal data.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from inkbridge.errors import PermanentError, RetryableError

RETRYABLE_STATUSES = frozenset({408, 425, 429})


def retry_after(response: httpx.Response, now: datetime | None = None) -> float | None:
    """``Retry-After`` in seconds, whether given as a number or as an HTTP date."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def raise_for_answer(destination: str, response: httpx.Response) -> None:
    """Return quietly on 2xx, else raise the error the delivery loop should act on."""
    status = response.status_code
    if 200 <= status < 300:
        return
    if status in RETRYABLE_STATUSES or status >= 500:
        raise RetryableError(f"{destination} answered {status}", retry_after=retry_after(response))
    code = _error_code(response)
    raise PermanentError(f"{destination} answered {status}" + (f" ({code})" if code else ""))


def _error_code(response: httpx.Response) -> str | None:
    """A vendor's short error code (``VALIDATION_ERROR``), never its free-text message."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    for key in ("category", "code", "error"):
        value = body.get(key)
        if isinstance(value, str) and 0 < len(value) <= 60:
            return value
    return None


def transport_failure(destination: str, exc: httpx.HTTPError) -> RetryableError:
    """A timeout, refused connection or broken stream: the request may never have arrived."""
    return RetryableError(f"{destination} unreachable: {type(exc).__name__}")
