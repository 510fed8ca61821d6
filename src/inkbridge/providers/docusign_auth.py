"""DocuSign's OAuth JWT grant: sign an assertion with the integration's RSA key, trade it for an
access token, and keep that token until shortly before it expires.

The assertion carries ``iss`` (integration key), ``sub`` (the impersonated user's id), ``aud``
(the bare host of the auth server, e.g. ``account-d.docusign.com``: no scheme, or DocuSign
rejects it), ``scope`` and ``iat``/``exp``. Tokens last an hour; one lock makes concurrent
callers share one exchange instead of stampeding the auth server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from inkbridge.errors import ConfigError, PermanentError, RetryableError
from inkbridge.providers._client_http import raise_for_status, short_code, transport_failure

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_SCOPES = ("signature", "impersonation")
# DocuSign caps an assertion's life at one hour; ours only has to survive one request.
ASSERTION_LIFETIME_SECONDS = 600
# Refresh this long before the token's end, so a request never starts with a dying token.
REFRESH_MARGIN_SECONDS = 300.0


def _rsa_key(private_key_pem: str) -> RSAPrivateKey:
    try:
        key = load_pem_private_key(private_key_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ConfigError("the DocuSign private key is not an unencrypted PEM key") from None
    if not isinstance(key, RSAPrivateKey):
        raise ConfigError("the DocuSign private key must be an RSA key (RS256)")
    return key


class DocuSignJwtAuth:
    """Access tokens for one integration key impersonating one DocuSign user."""

    def __init__(
        self,
        *,
        auth_url: str,
        integration_key: str,
        user_id: str,
        private_key_pem: str,
        client: httpx.AsyncClient,
        scopes: Sequence[str] = DEFAULT_SCOPES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._token_url = auth_url.rstrip("/") + "/oauth/token"
        self._audience = urlsplit(auth_url).netloc or auth_url
        self._integration_key = integration_key
        self._user_id = user_id
        self._key = _rsa_key(private_key_pem)
        self._client = client
        self._scope = " ".join(scopes)
        self._clock = clock
        self._token: str | None = None
        self._valid_until = 0.0
        self._lock = asyncio.Lock()
        self.exchanges = 0  # how many tokens were fetched; tests read it

    def __repr__(self) -> str:
        # Never the key or a token: reprs end up in tracebacks and logs.
        return f"DocuSignJwtAuth(audience={self._audience!r})"

    def assertion(self) -> str:
        """A freshly signed JWT assertion for the token endpoint."""
        now = int(self._clock())
        claims = {
            "iss": self._integration_key,
            "sub": self._user_id,
            "aud": self._audience,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECONDS,
            "scope": self._scope,
        }
        return jwt.encode(claims, self._key, algorithm="RS256")

    async def token(self) -> str:
        """A valid access token, fetched only when the cached one is missing or ending."""
        if self._token is not None and self._clock() < self._valid_until:
            return self._token
        async with self._lock:
            # Another caller may have refreshed while this one waited for the lock.
            if self._token is not None and self._clock() < self._valid_until:
                return self._token
            self._token, self._valid_until = await self._exchange()
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` after DocuSign refused it (only that one: a newer token stays)."""
        if self._token == token:
            self._token = None
            self._valid_until = 0.0

    async def _exchange(self) -> tuple[str, float]:
        form = {"grant_type": JWT_BEARER_GRANT, "assertion": self.assertion()}
        try:
            response = await self._client.post(self._token_url, data=form)
        except httpx.HTTPError as exc:
            raise transport_failure("docusign auth", exc) from exc
        body = _json_object(response)
        # OAuth errors name themselves in 'error' (invalid_grant, consent_required, ...).
        raise_for_status("docusign auth", response, short_code(body.get("error")))
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise PermanentError("docusign auth answered without an access_token")
        expires_in = body.get("expires_in")
        lifetime = float(expires_in) if isinstance(expires_in, int | float) else 3600.0
        self.exchanges += 1
        margin = min(REFRESH_MARGIN_SECONDS, lifetime / 2)
        return token, self._clock() + lifetime - margin


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        if response.status_code < 300:
            raise RetryableError("docusign auth answered with invalid JSON") from None
        return {}
    return data if isinstance(data, dict) else {}
