"""HubSpot bearer tokens: a private app's static token, or OAuth access tokens (30 minutes)
refreshed from a refresh token at ``/oauth/v1/token``; both are ``httpx.Auth`` from the shared
vendor-HTTP layer, which caches the token and refreshes it once after a 401.
"""

from __future__ import annotations

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

    label = "hubspot auth"
    default_lifetime = ACCESS_TOKEN_SECONDS
