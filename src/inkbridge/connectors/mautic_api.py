"""Mautic's REST API as the Mautic connector uses it: OAuth2 client credentials (token cached
until shortly before it expires, fetched again once on a 401) or HTTP basic auth, and answers
classified the shared way (429/5xx retryable, other 4xx permanent)."""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import httpx

from inkbridge.connectors.http_errors import raise_for_answer, transport_failure
from inkbridge.errors import ConfigError, PermanentError, RetryableError

TOKEN_MARGIN_SECONDS = 60.0


class MauticApi:
    """Authenticated calls to one Mautic instance; ``requests`` counts API calls made."""

    def __init__(
        self,
        name: str,
        base_url: str,
        client: httpx.AsyncClient,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        if client_id and client_secret:
            self._basic: str | None = None
        elif username and password:
            self._basic = base64.b64encode(f"{username}:{password}".encode()).decode()
        else:
            raise ConfigError(
                f"destination {name!r}: client_id + client_secret, or username + password"
            )
        self.name = name
        self._base = base_url.rstrip("/")
        self._client = client
        self._client_id = client_id or ""
        self._client_secret = client_secret or ""
        self._timeout = httpx.Timeout(timeout)
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()
        self.requests = 0

    async def _authorization(self, stale: str | None = None) -> str:
        """The ``Authorization`` value: basic, or a bearer token fetched when missing, near
        expiry or equal to ``stale``."""
        if self._basic is not None:
            return f"Basic {self._basic}"
        async with self._token_lock:
            fresh = self._token is not None and time.monotonic() < self._token_expires
            if fresh and self._token is not None and f"Bearer {self._token}" != stale:
                return f"Bearer {self._token}"
            form = {
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._client_secret,
            }
            try:
                response = await self._client.post(
                    self._base + "/oauth/v2/token", data=form, timeout=self._timeout
                )
            except httpx.HTTPError as exc:
                raise transport_failure(self.name, exc) from exc
            if response.status_code in {400, 401, 403}:
                raise PermanentError(f"{self.name} refused the client credentials")
            raise_for_answer(self.name, response)
            try:
                body = response.json()
            except ValueError:
                raise RetryableError(f"{self.name} token answer is not JSON") from None
            token = body.get("access_token") if isinstance(body, dict) else None
            if not isinstance(token, str) or not token:
                raise RetryableError(f"{self.name} answered without an access token")
            lifetime = float(body.get("expires_in") or 0)
            self._token = token
            self._token_expires = time.monotonic() + max(0.0, lifetime - TOKEN_MARGIN_SECONDS)
            return f"Bearer {token}"

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: httpx.QueryParams | None = None,
        body: Any = None,
        missing_ok: bool = False,
    ) -> Any:
        """The decoded answer; None for a 404 when ``missing_ok``."""
        authorization = await self._authorization()
        for attempt in (1, 2):
            try:
                response = await self._client.request(
                    method,
                    self._base + path,
                    params=params,
                    json=body,
                    headers={"authorization": authorization},
                    timeout=self._timeout,
                )
            except httpx.HTTPError as exc:
                raise transport_failure(self.name, exc) from exc
            self.requests += 1
            if response.status_code == 401 and self._basic is None and attempt == 1:
                # The token expired early or was revoked: fetch a new one and try once more.
                authorization = await self._authorization(stale=authorization)
                continue
            if response.status_code == 404 and missing_ok:
                return None
            raise_for_answer(self.name, response)
            try:
                return response.json()
            except ValueError:
                raise RetryableError(f"{self.name} answered without JSON") from None
        raise AssertionError("unreachable")  # pragma: no cover
