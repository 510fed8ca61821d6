"""Marketo's REST API as the Marketo connector uses it: the client-credentials access token
(cached until shortly before it expires) and calls whose answers are read for Marketo's errors.

Marketo reports most failures inside HTTP 200 answers (``success: false`` with
``errors[].code``): 601/602 fetch a new token and retry the call once, 606/615 (call rate,
concurrency) and 607 (daily quota) are retryable with a wait, 604/608/611/713 are transient, any
other code is permanent. Reasons name the code only, never Marketo's message, which can echo a
record's values.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx

from inkbridge.errors import PermanentError, RetryableError
from inkbridge.vendor_http.responses import raise_for_answer, transport_failure

TOKEN_MARGIN_SECONDS = 60.0
RATE_WAIT_SECONDS = 20.0  # 606/615: the call-rate window is 20 s
TRANSIENT_WAIT_SECONDS = 30.0
# The daily quota resets at midnight US Central (Marketo's documentation says CST).
QUOTA_TIMEZONE = timezone(timedelta(hours=-6))
TOKEN_CODES = frozenset({"601", "602"})
TRANSIENT_CODES = frozenset({"604", "608", "611", "713"})


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def seconds_until_quota_reset(now: datetime | None = None) -> float:
    at = (now or datetime.now(UTC)).astimezone(QUOTA_TIMEZONE)
    midnight = (at + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - at).total_seconds()


def error_for(name: str, code: str) -> RetryableError | PermanentError:
    """The error a response-level code means for the delivery loop."""
    reason = f"{name} error {code}"
    if code in {"606", "615"}:
        return RetryableError(reason, retry_after=RATE_WAIT_SECONDS)
    if code == "607":
        return RetryableError(reason, retry_after=seconds_until_quota_reset())
    if code in TRANSIENT_CODES or code in TOKEN_CODES:
        return RetryableError(reason, retry_after=TRANSIENT_WAIT_SECONDS)
    return PermanentError(reason)


class MarketoApi:
    """Authenticated calls to one Marketo instance; ``requests`` counts REST calls made."""

    def __init__(
        self,
        name: str,
        base_url: str,
        client: httpx.AsyncClient,
        *,
        client_id: str,
        client_secret: str,
        identity_url: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.name = name
        self._base = base_url.rstrip("/")
        self._identity = (identity_url or self._base + "/identity").rstrip("/")
        self._client = client
        self._client_id = client_id
        self._client_secret = client_secret
        self._timeout = httpx.Timeout(timeout)
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()
        self.requests = 0

    # -- access token --------------------------------------------------------------------------

    async def access_token(self, stale: str | None = None) -> str:
        """The cached token, fetched anew when missing, near expiry or equal to ``stale``."""
        async with self._token_lock:
            fresh = self._token is not None and time.monotonic() < self._token_expires
            if fresh and self._token != stale and self._token is not None:
                return self._token
            form = {
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
            }
            try:
                # A form body rather than the documented query string: URLs end up in logs.
                response = await self._client.post(
                    self._identity + "/oauth/token", data=form, timeout=self._timeout
                )
            except httpx.HTTPError as exc:
                raise transport_failure(self.name, exc) from exc
            if response.status_code in {400, 401, 403}:
                raise PermanentError(f"{self.name} identity refused the client credentials")
            raise_for_answer(self.name, response)
            try:
                body = _mapping(response.json())
            except ValueError:
                raise RetryableError(f"{self.name} identity answered without JSON") from None
            token = body.get("access_token")
            if not isinstance(token, str) or not token:
                raise RetryableError(f"{self.name} identity answered without a token")
            lifetime = float(body.get("expires_in") or 0)
            self._token = token
            self._token_expires = time.monotonic() + max(0.0, lifetime - TOKEN_MARGIN_SECONDS)
            return token

    # -- HTTP ----------------------------------------------------------------------------------

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        form: Mapping[str, str] | None = None,
    ) -> list[Any]:
        """The ``result`` of a successful answer; one token refresh on 601/602."""
        token = await self.access_token()
        for attempt in (1, 2):
            try:
                response = await self._client.request(
                    method,
                    self._base + path,
                    params=params,
                    json=body,
                    data=form,
                    headers={"authorization": f"Bearer {token}"},
                    timeout=self._timeout,
                )
            except httpx.HTTPError as exc:
                raise transport_failure(self.name, exc) from exc
            self.requests += 1
            raise_for_answer(self.name, response)
            try:
                answer = _mapping(response.json())
            except ValueError:
                raise RetryableError(f"{self.name} answered without JSON") from None
            if answer.get("success") is True:
                result = answer.get("result")
                return list(result) if isinstance(result, list) else []
            errors = answer.get("errors")
            first = _mapping(errors[0]) if isinstance(errors, list) and errors else {}
            code = str(first.get("code", "unknown"))
            if code in TOKEN_CODES and attempt == 1:
                token = await self.access_token(stale=token)
                continue
            raise error_for(self.name, code)
        raise AssertionError("unreachable")  # pragma: no cover
