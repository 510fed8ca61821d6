"""HubSpot bearer tokens: a private app's static token, or OAuth access tokens (30 minutes)
refreshed from a refresh token at ``/oauth/v1/token`` and cached until shortly before they end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import httpx

from inkbridge.connectors._oauth import GrantCache, lifetime, request_token

ACCESS_TOKEN_SECONDS = 1800.0


class HubSpotAuth(Protocol):
    """Where the bearer token comes from; ``refreshable`` auth gets one retry after a 401."""

    refreshable: bool

    async def token(self) -> str: ...

    def invalidate(self, token: str) -> None: ...


class PrivateAppToken:
    """A private app's static access token."""

    refreshable = False

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "PrivateAppToken(***)"

    async def token(self) -> str:
        return self._token

    def invalidate(self, token: str) -> None:
        """A static token cannot be renewed: a 401 is final."""


class HubSpotOAuth:
    """OAuth access tokens from a refresh token."""

    refreshable = True

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        client: httpx.AsyncClient,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token_url = token_url
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._client = client
        self._timeout = timeout
        self._cache: GrantCache[str] = GrantCache(self._exchange, clock)

    def __repr__(self) -> str:
        return f"HubSpotOAuth(token_url={self._token_url!r})"

    @property
    def exchanges(self) -> int:
        return self._cache.exchanges

    async def token(self) -> str:
        return await self._cache.get()

    def invalidate(self, token: str) -> None:
        self._cache.invalidate(token)

    async def _exchange(self) -> tuple[str, float]:
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "refresh_token": self._refresh_token,
        }
        body = await request_token(
            self._client, self._token_url, form, label="hubspot auth", timeout=self._timeout
        )
        # HubSpot may hand back a new refresh token; the next refresh must use it.
        if isinstance(body.get("refresh_token"), str) and body["refresh_token"]:
            self._refresh_token = body["refresh_token"]
        return str(body["access_token"]), lifetime(body, ACCESS_TOKEN_SECONDS)
