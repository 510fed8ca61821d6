"""Bearer tokens for vendor APIs as ``httpx.Auth``: OAuth client credentials, refresh token and
JWT bearer grants, and a static token.

An auth object fetches a token on first use, reuses it until shortly before it ends, and on a
401 drops that token, fetches a new one and replays the request once; a second 401 goes back to
the caller, who classifies it like any other answer (a permanent error, never a loop). One lock
makes concurrent requests share one token exchange instead of stampeding the token endpoint,
and ``invalidate`` drops only the grant the vendor refused, so a newer one survives.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from typing import Any, Generic, TypeVar

import httpx
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from inkbridge.errors import ConfigError, PermanentError, RetryableError
from inkbridge.vendor_http.responses import is_retryable_status, short_code, transport_failure

T = TypeVar("T")

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Refresh this long before a grant's end (at most half its life), so that no request starts
# with a token about to die.
REFRESH_MARGIN_SECONDS = 300.0


class GrantCache(Generic[T]):
    """A grant (a token, or a token with its instance URL) from ``fetch``, which returns the
    grant and its lifetime in seconds."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[tuple[T, float]]],
        clock: Callable[[], float] = time.monotonic,
        margin: float = REFRESH_MARGIN_SECONDS,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._margin = margin
        self._grant: T | None = None
        self._valid_until = 0.0
        self._lock = asyncio.Lock()
        self.exchanges = 0  # how many grants were fetched; tests read it

    def __repr__(self) -> str:
        # Never the grant itself: reprs end up in tracebacks and logs.
        return f"GrantCache(cached={self._grant is not None})"

    def _fresh(self) -> T | None:
        return self._grant if self._clock() < self._valid_until else None

    async def get(self) -> T:
        grant = self._fresh()
        if grant is not None:
            return grant
        async with self._lock:
            # Another caller may have fetched while this one waited for the lock.
            grant = self._fresh()
            if grant is not None:
                return grant
            grant, lifetime = await self._fetch()
            self.exchanges += 1
            self._grant = grant
            self._valid_until = self._clock() + lifetime - min(self._margin, lifetime / 2)
            return grant

    def invalidate(self, grant: T) -> None:
        """Forget ``grant`` after the vendor refused it."""
        if self._grant == grant:
            self._grant, self._valid_until = None, 0.0


async def request_token(
    client: httpx.AsyncClient,
    url: str,
    form: Mapping[str, str],
    *,
    label: str,
    timeout: float | None = 10.0,
) -> dict[str, Any]:
    """POST a token request and return its JSON body, which holds an ``access_token``.

    Retryable answers are classified like any vendor call; any other refusal is permanent (a
    revoked secret does not heal) and names the OAuth error code, never the description. A
    ``timeout`` of None keeps the client's own.
    """
    try:
        if timeout is None:
            response = await client.post(url, data=dict(form))
        else:
            response = await client.post(url, data=dict(form), timeout=timeout)
    except httpx.HTTPError as exc:
        raise transport_failure(label, exc) from exc
    try:
        body = response.json()
    except ValueError:
        if response.status_code < 300:
            raise RetryableError(f"{label} answered with invalid JSON") from None
        body = None
    body = body if isinstance(body, dict) else {}
    status = response.status_code
    if status >= 300:
        # RFC 6749 names the failure in 'error'; HubSpot in 'status', Acrobat in 'code'.
        code = next(
            (c for k in ("error", "status", "code") if (c := short_code(body.get(k)))), None
        )
        reason = f"{label} answered {status}" + (f" ({code})" if code else "")
        if is_retryable_status(status):
            raise RetryableError(reason)
        raise PermanentError(reason)
    token = body.get("access_token")
    if not isinstance(token, str) or not token:
        raise PermanentError(f"{label} answered without an access_token")
    return body


def lifetime(body: Mapping[str, Any], default: float) -> float:
    """``expires_in`` of a token answer, in seconds."""
    value = body.get("expires_in")
    try:
        return float(value) if value is not None else default
    except (TypeError, ValueError):
        return default


def rsa_key(private_key_pem: str, vendor: str) -> RSAPrivateKey:
    """An unencrypted RSA private key from PEM text, or a ``ConfigError`` naming the vendor."""
    try:
        key = load_pem_private_key(private_key_pem.encode(), password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"the {vendor} private key is not an unencrypted PEM key") from None
    if not isinstance(key, RSAPrivateKey):
        raise ConfigError(f"the {vendor} private key must be an RSA key (RS256)")
    return key


class BearerAuth(httpx.Auth, Generic[T]):
    """Sends ``Authorization: Bearer <token>`` from a grant, with one refresh after a 401.

    Subclasses say how a grant is fetched (``fetch_grant``) and which token it carries
    (``bearer``); the grant may hold more than the token (Salesforce's instance URL).
    """

    refreshable = True

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, margin: float = REFRESH_MARGIN_SECONDS
    ) -> None:
        self._cache: GrantCache[T] = GrantCache(self.fetch_grant, clock, margin)

    def __repr__(self) -> str:
        # Never a secret or a token: reprs end up in tracebacks and logs.
        return f"{type(self).__name__}()"

    @property
    def exchanges(self) -> int:
        """How many grants were fetched so far."""
        return self._cache.exchanges

    async def fetch_grant(self) -> tuple[T, float]:
        """A new grant and its lifetime in seconds."""
        raise NotImplementedError

    def bearer(self, grant: T) -> str:
        return str(grant)

    async def grant(self) -> T:
        """The current grant, fetched when missing or ending."""
        return await self._cache.get()

    async def token(self) -> str:
        return self.bearer(await self.grant())

    def invalidate(self, grant: T) -> None:
        """Forget ``grant`` after the vendor refused it (a newer one stays)."""
        self._cache.invalidate(grant)

    def refused(self, response: httpx.Response) -> bool:
        """Whether the vendor refused the token; then one new token and one replay. A 401 by
        default; a vendor that answers 200 with an error code says so here (and sets
        ``requires_response_body``)."""
        return response.status_code == 401

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise RuntimeError(f"{type(self).__name__} works with httpx.AsyncClient only")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        grant = await self.grant()
        request.headers["Authorization"] = f"Bearer {self.bearer(grant)}"
        response = yield request
        if self.requires_response_body:
            await response.aread()
        if not self.refreshable or not self.refused(response):
            return
        # Revoked or expired early: one new grant, one replay; a second 401 is the caller's.
        self.invalidate(grant)
        request.headers["Authorization"] = f"Bearer {self.bearer(await self.grant())}"
        yield request


class StaticBearer(BearerAuth[str]):
    """A long-lived token from configuration (a private app's token): a 401 is final."""

    refreshable = False

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    async def fetch_grant(self) -> tuple[str, float]:
        return self._token, float("inf")


class OAuthGrant(BearerAuth[T]):
    """A grant from an OAuth token endpoint; subclasses give the form (``grant_form``) and may
    name themselves (``label``, in error reasons) and their tokens' usual life in seconds when
    the answer carries no ``expires_in`` (``default_lifetime``)."""

    label = "vendor auth"
    default_lifetime = 3600.0

    def __init__(
        self,
        *,
        token_url: str,
        client: httpx.AsyncClient,
        label: str | None = None,
        default_lifetime: float | None = None,
        timeout: float | None = 10.0,
        clock: Callable[[], float] = time.monotonic,
        margin: float = REFRESH_MARGIN_SECONDS,
    ) -> None:
        super().__init__(clock, margin)
        self.token_url = token_url
        self._client = client
        self.label = label or self.label
        self.default_lifetime = (
            self.default_lifetime if default_lifetime is None else default_lifetime
        )
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"{type(self).__name__}(token_url={self.token_url!r})"

    def grant_form(self) -> dict[str, str]:
        raise NotImplementedError

    def grant_from(self, body: Mapping[str, Any]) -> T:
        """The grant an answer carries (its access token unless a subclass says more)."""
        token: T = body["access_token"]
        return token

    def grant_lifetime(self, body: Mapping[str, Any]) -> float:
        return lifetime(body, self.default_lifetime)

    async def fetch_grant(self) -> tuple[T, float]:
        body = await request_token(
            self._client,
            self.token_url,
            self.grant_form(),
            label=self.label,
            timeout=self._timeout,
        )
        return self.grant_from(body), self.grant_lifetime(body)


class ClientSecretGrant(OAuthGrant[T]):
    """A grant whose form names the client by its id and secret (RFC 6749 §2.3.1)."""

    def __init__(self, *, client_id: str, client_secret: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._client_id = client_id
        self._client_secret = client_secret

    def client_form(self, grant_type: str) -> dict[str, str]:
        return {
            "grant_type": grant_type,
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }


class ClientCredentialsAuth(ClientSecretGrant[T]):
    """OAuth 2.0 client credentials (RFC 6749 §4.4), the secret sent in the form."""

    def __init__(
        self, *, client_id: str, client_secret: str, scope: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(client_id=client_id, client_secret=client_secret, **kwargs)
        self._scope = scope

    def grant_form(self) -> dict[str, str]:
        form = self.client_form("client_credentials")
        if self._scope is not None:
            form["scope"] = self._scope
        return form


class RefreshTokenAuth(ClientSecretGrant[T]):
    """OAuth 2.0 refresh token grant (RFC 6749 §6); a rotated refresh token is kept."""

    def __init__(
        self, *, client_id: str, client_secret: str, refresh_token: str, **kwargs: Any
    ) -> None:
        super().__init__(client_id=client_id, client_secret=client_secret, **kwargs)
        self._refresh_token = refresh_token

    def grant_form(self) -> dict[str, str]:
        return {**self.client_form("refresh_token"), "refresh_token": self._refresh_token}

    def grant_from(self, body: Mapping[str, Any]) -> T:
        # The vendor may hand back a new refresh token; the next refresh must use it.
        rotated = body.get("refresh_token")
        if isinstance(rotated, str) and rotated:
            self._refresh_token = rotated
        return super().grant_from(body)


class JwtBearerAuth(OAuthGrant[T]):
    """OAuth 2.0 JWT bearer grant (RFC 7523): a freshly signed RS256 assertion per exchange."""

    def __init__(
        self,
        *,
        private_key_pem: str,
        claims: Callable[[], Mapping[str, Any]],
        vendor: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._key = rsa_key(private_key_pem, vendor)
        self._claims = claims

    def assertion(self) -> str:
        """A freshly signed JWT assertion for the token endpoint."""
        import jwt  # PyJWT, only for the connections that sign assertions

        return jwt.encode(dict(self._claims()), self._key, algorithm="RS256")

    def grant_form(self) -> dict[str, str]:
        return {"grant_type": JWT_BEARER_GRANT, "assertion": self.assertion()}
