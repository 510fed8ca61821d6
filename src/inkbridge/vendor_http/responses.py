"""The one classification of vendor answers: which failures heal by retrying, and how long the
vendor asks us to wait.

Retryable: transport errors and timeouts, and the statuses in ``RETRYABLE_STATUSES`` or any 5xx
(a vendor in trouble, or asking us to slow down). Any other 4xx is permanent: retrying the same
request cannot change the answer. ``Retry-After`` is read in both of its forms (RFC 9110 §10.2.3),
delta-seconds and HTTP-date, as the real wait from now. Reasons carry the status and a vendor's
short error code only: free-text messages may quote names or addresses.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from inkbridge.errors import PermanentError, RetryableError

# 408 Request Timeout, 425 Too Early and 429 Too Many Requests heal by waiting; so does any 5xx.
RETRYABLE_STATUSES = frozenset({408, 425, 429})
# A reset header above this is a Unix time; below, a number of seconds (vendors send both).
_EPOCH_THRESHOLD = 1_000_000_000


def is_retryable_status(status: int) -> bool:
    """Whether a non-2xx answer with ``status`` may succeed if the same request is sent later."""
    return status in RETRYABLE_STATUSES or status >= 500


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds, or an HTTP-date measured
    from ``now``. A date in the past is 0; a negative number is 0; garbage is None."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def retry_after(response: httpx.Response, now: datetime | None = None) -> float | None:
    """The wait a response's ``Retry-After`` header asks for, if any."""
    return parse_retry_after(response.headers.get("retry-after"), now)


def ratelimit_reset(
    headers: Mapping[str, str], clock: Callable[[], float] = time.time
) -> float | None:
    """Seconds until ``X-RateLimit-Reset``, whether sent as a delay or as a Unix time."""
    raw = headers.get("x-ratelimit-reset")
    try:
        value = float(raw) if raw else None
    except ValueError:
        return None
    if value is None:
        return None
    return max(0.0, value - clock()) if value > _EPOCH_THRESHOLD else max(0.0, value)


def wait_hint(response: httpx.Response, clock: Callable[[], float] = time.time) -> float | None:
    """Seconds the vendor asks us to wait: ``Retry-After``, else ``X-RateLimit-Reset``."""
    hinted = parse_retry_after(
        response.headers.get("retry-after"), datetime.fromtimestamp(clock(), UTC)
    )
    return hinted if hinted is not None else ratelimit_reset(response.headers, clock)


def raise_for_status(
    vendor: str,
    response: httpx.Response,
    code: str | None = None,
    *,
    retryable_codes: frozenset[str] = frozenset(),
) -> None:
    """Return quietly on 2xx, else raise the error the caller's retry policy acts on.

    ``code`` is the vendor's short error code, named in the reason; ``retryable_codes`` are codes
    that mean "later" whatever the status (DocuSign reports its hourly limits as 400s).
    """
    status = response.status_code
    if 200 <= status < 300:
        return
    reason = f"{vendor} answered {status}" + (f" ({code})" if code else "")
    if is_retryable_status(status) or (code or "") in retryable_codes:
        raise RetryableError(reason, retry_after=wait_hint(response))
    raise PermanentError(reason)


def raise_for_answer(vendor: str, response: httpx.Response) -> None:
    """``raise_for_status`` naming the short code the body carries, if any."""
    raise_for_status(vendor, response, body_error_code(response))


def body_error_code(response: httpx.Response, *keys: str) -> str | None:
    """A vendor's short error code (``VALIDATION_ERROR``) from the first of ``keys`` its JSON
    body holds (by default ``category``, ``code``, ``error``), never its free-text message."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    found = (short_code(body.get(key)) for key in keys or ("category", "code", "error"))
    return next((code for code in found if code), None)


def json_object(vendor: str, response: httpx.Response) -> dict[str, Any]:
    """A successful answer's JSON object: a body cut short is retryable, a body of another
    shape permanent."""
    try:
        data = response.json()
    except ValueError:
        raise RetryableError(f"{vendor} answered with invalid JSON") from None
    if not isinstance(data, dict):
        raise PermanentError(f"{vendor} answered with a non-object body")
    return data


def short_code(value: object) -> str | None:
    """A vendor error code fit for a log line: short text, else nothing."""
    if isinstance(value, str) and 0 < len(value) <= 80:
        return value
    return None


def transport_failure(vendor: str, exc: httpx.HTTPError) -> RetryableError:
    """A timeout, refused connection or broken stream: the request may never have arrived."""
    return RetryableError(f"{vendor} unreachable: {type(exc).__name__}")


async def send(
    client: httpx.AsyncClient, vendor: str, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    """One request through ``client``; a timeout, refused connection or broken stream becomes
    the ``RetryableError`` of ``transport_failure``."""
    try:
        return await client.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise transport_failure(vendor, exc) from exc
