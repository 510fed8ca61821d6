"""How the vendor API clients read an answer: which failures heal by retrying, and how long the
vendor asks us to wait.

Transport errors, timeouts, 408, 425, 429 and 5xx are ``RetryableError``; any other 4xx is
``PermanentError``. The wait is ``Retry-After`` when given, else the rate-limit reset header both
DocuSign and Dropbox Sign send (``X-RateLimit-Reset``, unix seconds). Reasons carry the status
and the vendor's short error code only: free-text messages may quote names or addresses.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from inkbridge.connectors.http_errors import retry_after
from inkbridge.errors import PermanentError, RetryableError

RETRYABLE_STATUSES = frozenset({408, 425, 429})
# A reset header above this is a unix time; below, a number of seconds (seen both ways).
_EPOCH_THRESHOLD = 1_000_000_000


def wait_hint(response: httpx.Response, clock: Callable[[], float] = time.time) -> float | None:
    """Seconds the vendor asks us to wait before trying again, if it says."""
    hinted = retry_after(response)
    if hinted is not None:
        return hinted
    reset = response.headers.get("x-ratelimit-reset")
    try:
        value = float(reset) if reset else None
    except ValueError:
        return None
    if value is None:
        return None
    return max(0.0, value - clock()) if value > _EPOCH_THRESHOLD else max(0.0, value)


def raise_for_status(
    vendor: str,
    response: httpx.Response,
    code: str | None,
    *,
    retryable_codes: frozenset[str] = frozenset(),
) -> None:
    """Return quietly on 2xx, else raise the error the caller's retry policy acts on.

    ``retryable_codes`` are vendor error codes that mean "later" whatever the status (DocuSign
    reports its hourly and burst limits as 400s on older stacks).
    """
    status = response.status_code
    if 200 <= status < 300:
        return
    reason = f"{vendor} answered {status}" + (f" ({code})" if code else "")
    if status in RETRYABLE_STATUSES or status >= 500 or (code or "") in retryable_codes:
        raise RetryableError(reason, retry_after=wait_hint(response))
    raise PermanentError(reason)


def transport_failure(vendor: str, exc: httpx.HTTPError) -> RetryableError:
    """A timeout, refused connection or broken stream: the request may never have arrived."""
    return RetryableError(f"{vendor} unreachable: {type(exc).__name__}")


def short_code(value: object) -> str | None:
    """A vendor error code fit for a log line: short text, else nothing."""
    if isinstance(value, str) and 0 < len(value) <= 80:
        return value
    return None
