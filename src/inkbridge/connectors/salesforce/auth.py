"""Salesforce OAuth sessions: the JWT bearer flow (a connected app's certificate signs an
assertion for one user) or the client credentials flow, both at ``/services/oauth2/token``.

A token answer names the org's ``instance_url`` but no lifetime (sessions last the org's
timeout, two hours by default), so a session is kept for ``session_seconds`` and dropped earlier
when Salesforce answers 401 ``INVALID_SESSION_ID`` (the shared ``httpx.Auth`` flow then fetches
one new session and replays the request once).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from inkbridge.errors import PermanentError
from inkbridge.vendor_http.auth import ClientCredentialsAuth, JwtBearerAuth, OAuthGrant

SESSION_SECONDS = 3600.0
# Salesforce accepts an assertion whose exp is at most three minutes away.
ASSERTION_SECONDS = 180


@dataclass(frozen=True)
class Session:
    """An access token and the org's instance URL it is good for."""

    access_token: str
    instance_url: str

    def __repr__(self) -> str:
        return f"Session(instance_url={self.instance_url!r})"


class SalesforceAuth(OAuthGrant[Session]):
    """A cached ``Session`` from the login URL's token endpoint; subclasses say which grant
    they send."""

    label = "salesforce auth"

    def __init__(
        self, *, login_url: str, session_seconds: float = SESSION_SECONDS, **kwargs: Any
    ) -> None:
        self.login_url = login_url.rstrip("/")
        super().__init__(
            token_url=self.login_url + "/services/oauth2/token",
            default_lifetime=session_seconds,
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(login_url={self.login_url!r})"

    def bearer(self, grant: Session) -> str:
        return grant.access_token

    def grant_from(self, body: Mapping[str, Any]) -> Session:
        instance = body.get("instance_url")
        if not isinstance(instance, str) or not instance:
            raise PermanentError("salesforce auth answered without an instance_url")
        return Session(str(body["access_token"]), instance.rstrip("/"))

    def grant_lifetime(self, body: Mapping[str, Any]) -> float:
        # Salesforce answers no expires_in: the org's session timeout applies.
        return self.default_lifetime

    async def session(self) -> Session:
        return await self.grant()


class SalesforceJwtAuth(SalesforceAuth, JwtBearerAuth[Session]):
    """OAuth 2.0 JWT bearer flow (takes ``login_url``, ``client``, ``timeout``,
    ``session_seconds`` and ``clock`` as every ``SalesforceAuth``)."""

    def __init__(
        self, *, client_id: str, username: str, private_key_pem: str, **kwargs: Any
    ) -> None:
        self._client_id = client_id
        self._username = username
        super().__init__(
            private_key_pem=private_key_pem,
            claims=self._assertion_claims,
            vendor="Salesforce",
            **kwargs,
        )

    def _assertion_claims(self) -> dict[str, Any]:
        # ``aud`` is the login URL itself (login.salesforce.com, test.salesforce.com, or the
        # My Domain URL for orgs that require it).
        return {
            "iss": self._client_id,
            "sub": self._username,
            "aud": self.login_url,
            "exp": int(time.time()) + ASSERTION_SECONDS,
        }


class SalesforceClientCredentials(SalesforceAuth, ClientCredentialsAuth[Session]):
    """OAuth 2.0 client credentials flow (the connected app runs as its configured user)."""
