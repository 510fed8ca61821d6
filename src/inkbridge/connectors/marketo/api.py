"""Marketo's REST API as the Marketo connector uses it: the client-credentials access token
(cached until shortly before it expires) and calls whose answers are read for Marketo's errors.

Marketo reports most failures inside HTTP 200 answers (``success: false`` with
``errors[].code``): 601/602 fetch a new token and retry the call once, 606/615 (call rate,
concurrency) and 607 (daily quota) are retryable with a wait, 604/608/611/713 are transient, any
other code is permanent. Reasons name the code only, never Marketo's message, which can echo a
record's values.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Required, TypedDict, Unpack

import httpx

from inkbridge.connectors.outbound import as_mapping
from inkbridge.connectors.rest_api import RestApi
from inkbridge.errors import PermanentError, RetryableError
from inkbridge.vendor_http.auth import ClientCredentialsAuth
from inkbridge.vendor_http.responses import raise_for_answer

TOKEN_MARGIN_SECONDS = 60.0
RATE_WAIT_SECONDS = 20.0  # 606/615: the call-rate window is 20 s
TRANSIENT_WAIT_SECONDS = 30.0
# The daily quota resets at midnight US Central (Marketo's documentation says CST).
QUOTA_TIMEZONE = timezone(timedelta(hours=-6))
TOKEN_CODES = frozenset({"601", "602"})
TRANSIENT_CODES = frozenset({"604", "608", "611", "713"})


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


class MarketoLogin(TypedDict, total=False):
    """How a Marketo API signs in: the LaunchPoint service's client id and secret, the identity
    URL when it is not ``<base_url>/identity``, and the timeout of each request (10 s)."""

    client_id: Required[str]
    client_secret: Required[str]
    identity_url: str | None
    timeout: float


class MarketoApi(RestApi):
    """Authenticated calls to one Marketo instance; ``requests`` counts REST calls made."""

    def __init__(
        self, name: str, base_url: str, client: httpx.AsyncClient, **login: Unpack[MarketoLogin]
    ) -> None:
        identity_url = login.get("identity_url") or base_url.rstrip("/") + "/identity"
        timeout = login.get("timeout", 10.0)
        self._identity = identity_url.rstrip("/")
        self._token = MarketoAuth(
            token_url=self._identity + "/oauth/token",
            client=client,
            label=f"{name} identity",
            client_id=login["client_id"],
            client_secret=login["client_secret"],
            default_lifetime=0.0,
            timeout=timeout,
            margin=TOKEN_MARGIN_SECONDS,
        )
        super().__init__(name, base_url, client, timeout, self._token)

    # -- access token --------------------------------------------------------------------------

    async def access_token(self) -> str:
        """The cached token, fetched when missing or near expiry."""
        return await self._token.token()

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
        """The ``result`` of a successful answer; the auth refreshes the token once on
        601/602, and a second refusal is retryable like any transient code."""
        response = await self._send(method, path, params=params, json=body, data=form)
        raise_for_answer(self.name, response)
        answer = as_mapping(self._json(response))
        if answer.get("success") is True:
            result = answer.get("result")
            return list(result) if isinstance(result, list) else []
        raise error_for(self.name, _first_error_code(answer))


def _first_error_code(answer: Mapping[str, Any]) -> str:
    errors = answer.get("errors")
    first = as_mapping(errors[0]) if isinstance(errors, list) and errors else {}
    return str(first.get("code", "unknown"))


class MarketoAuth(ClientCredentialsAuth[str]):
    """Client credentials at Marketo's identity endpoint. Marketo refuses a token with a 200
    whose body says 601 (invalid) or 602 (expired), not with a 401."""

    requires_response_body = True

    def refused(self, response: httpx.Response) -> bool:
        if response.status_code != 200:
            return False
        try:
            answer = as_mapping(response.json())
        except ValueError:
            return False
        return answer.get("success") is not True and _first_error_code(answer) in TOKEN_CODES
