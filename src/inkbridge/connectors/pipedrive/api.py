"""Pipedrive's API as the Pipedrive connector uses it: authenticated calls (API token in the
``x-api-token`` header, or an OAuth bearer token), answers read as ``{"success", "data"}``, and
its rate limits: a 429 is retryable after ``Retry-After`` (a spent daily token budget) or
``x-ratelimit-reset`` (the 2-second burst window), and the remaining allowance of the last answer
is kept for ``BatchResult.meta``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from inkbridge.connectors.outbound import as_mapping
from inkbridge.connectors.rest_api import RestApi
from inkbridge.errors import ConfigError, PermanentError, RetryableError
from inkbridge.vendor_http.credentials import CredentialCheck
from inkbridge.vendor_http.responses import raise_for_answer, wait_hint

USER_ME = "/api/v1/users/me"  # Pipedrive's "current user" (v1: there is no v2 route for it)


def _number(value: str | None) -> float | None:
    try:
        return None if value is None else max(0.0, float(value))
    except ValueError:
        return None


class PipedriveApi(RestApi):
    """Calls to one Pipedrive company; ``requests`` counts them, ``limits`` holds the last
    ``x-ratelimit-remaining`` / ``x-daily-requests-left`` seen."""

    def __init__(
        self,
        name: str,
        base_url: str,
        client: httpx.AsyncClient,
        *,
        api_token: str | None = None,
        access_token: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        # A header rather than the ?api_token= query parameter: URLs end up in logs.
        if api_token:
            self._headers = {"x-api-token": api_token}
        elif access_token:
            self._headers = {"authorization": f"Bearer {access_token}"}
        else:
            raise ConfigError(f"destination {name!r}: credentials.api_token or access_token")
        super().__init__(name, base_url, client, timeout)
        self.limits: dict[str, int] = {}

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any | None:
        """The ``data`` of a successful answer; None for a 404 (the caller's id went stale)."""
        response = await self._send(method, path, params=params, json=body, headers=self._headers)
        self._note_limits(response)
        if response.status_code == 404:
            return None
        if response.status_code == 429:
            # A burst 429 says when the 2-second window frees in x-ratelimit-reset; a spent
            # daily token budget sends Retry-After.
            raise RetryableError(f"{self.name} answered 429", retry_after=wait_hint(response))
        raise_for_answer(self.name, response)
        answer = self._json(response, f"answered {response.status_code} without JSON")
        if not isinstance(answer, dict) or answer.get("success") is not True:
            raise PermanentError(f"{self.name} answered success=false")
        return answer.get("data")

    async def check_credentials(self) -> CredentialCheck:
        """The user the token belongs to: readable with any valid token."""
        return await self.check_get(USER_ME, headers=self._headers)

    async def persons_with_email(self, email: str, limit: int) -> list[int]:
        """The ids of the persons whose emails include ``email`` (case aside), found by
        Pipedrive's exact-match search, in the order it answers."""
        key = email.strip().lower()
        params: dict[str, str | int] = {
            "term": email,
            "fields": "email",
            "exact_match": "true",
            "limit": limit,
        }
        data = as_mapping(await self.call("GET", "/api/v2/persons/search", params=params))
        items = (as_mapping(entry).get("item") for entry in data.get("items") or [])
        return [
            int(item["id"])
            for item in items
            if isinstance(item, Mapping)
            and key in {str(e).lower() for e in item.get("emails") or []}
        ]

    def _note_limits(self, response: httpx.Response) -> None:
        for header, key in (
            ("x-ratelimit-remaining", "ratelimit_remaining"),
            ("x-daily-requests-left", "daily_requests_left"),
        ):
            value = _number(response.headers.get(header))
            if value is not None:
                self.limits[key] = int(value)
