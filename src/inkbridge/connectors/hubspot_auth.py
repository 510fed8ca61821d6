"""HubSpot bearer tokens: a private app's static token, or OAuth access tokens (30 minutes)
refreshed from a refresh token at ``/oauth/v1/token``; both are ``httpx.Auth`` from the shared
vendor-HTTP layer, which caches the token and refreshes it once after a 401.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from inkbridge.vendor_http.auth import BearerAuth, RefreshTokenAuth, StaticBearer

ACCESS_TOKEN_SECONDS = 1800.0

# Where the bearer token comes from; only OAuth auth gets a retry after a 401.
HubSpotAuth = BearerAuth[str]


class PrivateAppToken(StaticBearer):
    """A private app's static access token: a 401 is final."""

    def __repr__(self) -> str:
        return "PrivateAppToken(***)"


class HubSpotOAuth(RefreshTokenAuth[str]):
    """OAuth access tokens from a refresh token (HubSpot may rotate it)."""

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
        super().__init__(
            token_url=token_url,
            client=client,
            label="hubspot auth",
            client_id=client_id,
            client_secret=client_secret,
            refresh_token=refresh_token,
            default_lifetime=ACCESS_TOKEN_SECONDS,
            timeout=timeout,
            clock=clock,
        )

    def __repr__(self) -> str:
        return f"HubSpotOAuth(token_url={self.token_url!r})"
