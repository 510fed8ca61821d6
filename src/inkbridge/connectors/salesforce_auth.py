"""Salesforce OAuth sessions: the JWT bearer flow (a connected app's certificate signs an
assertion for one user) or the client credentials flow, both at ``/services/oauth2/token``.

A token answer names the org's ``instance_url`` but no lifetime (sessions last the org's
timeout, two hours by default), so a session is kept for ``session_seconds`` and dropped earlier
when Salesforce answers ``INVALID_SESSION_ID``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from inkbridge.connectors._oauth import GrantCache, request_token
from inkbridge.errors import ConfigError, PermanentError

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
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


class SalesforceAuth:
    """A cached session from the token endpoint; subclasses say which grant they send."""

    def __init__(
        self,
        *,
        login_url: str,
        client: httpx.AsyncClient,
        timeout: float = 10.0,
        session_seconds: float = SESSION_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.login_url = login_url.rstrip("/")
        self._client = client
        self._timeout = timeout
        self._session_seconds = session_seconds
        self._cache: GrantCache[Session] = GrantCache(self._exchange, clock)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(login_url={self.login_url!r})"

    @property
    def exchanges(self) -> int:
        return self._cache.exchanges

    def grant(self) -> dict[str, str]:
        raise NotImplementedError

    async def session(self) -> Session:
        return await self._cache.get()

    def invalidate(self, session: Session) -> None:
        self._cache.invalidate(session)

    async def _exchange(self) -> tuple[Session, float]:
        body = await request_token(
            self._client,
            self.login_url + "/services/oauth2/token",
            self.grant(),
            label="salesforce auth",
            timeout=self._timeout,
        )
        instance = body.get("instance_url")
        if not isinstance(instance, str) or not instance:
            raise PermanentError("salesforce auth answered without an instance_url")
        return Session(str(body["access_token"]), instance.rstrip("/")), self._session_seconds


class SalesforceJwtAuth(SalesforceAuth):
    """OAuth 2.0 JWT bearer flow."""

    def __init__(
        self, *, client_id: str, username: str, private_key_pem: str, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self._client_id = client_id
        self._username = username
        try:
            key = load_pem_private_key(private_key_pem.encode(), password=None)
        except (ValueError, TypeError):
            raise ConfigError("the Salesforce private key is not an unencrypted PEM key") from None
        if not isinstance(key, RSAPrivateKey):
            raise ConfigError("the Salesforce private key must be an RSA key (RS256)")
        self._key = key

    def grant(self) -> dict[str, str]:
        # ``aud`` is the login URL itself (login.salesforce.com, test.salesforce.com, or the
        # My Domain URL for orgs that require it).
        claims = {
            "iss": self._client_id,
            "sub": self._username,
            "aud": self.login_url,
            "exp": int(time.time()) + ASSERTION_SECONDS,
        }
        assertion = jwt.encode(claims, self._key, algorithm="RS256")
        return {"grant_type": JWT_BEARER_GRANT, "assertion": assertion}


class SalesforceClientCredentials(SalesforceAuth):
    """OAuth 2.0 client credentials flow (the connected app runs as its configured user)."""

    def __init__(self, *, client_id: str, client_secret: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._client_id = client_id
        self._client_secret = client_secret

    def grant(self) -> dict[str, str]:
        return {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
