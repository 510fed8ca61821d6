"""Console sign-in through an OpenID Connect provider: the authorization code flow with PKCE.

``start`` builds the provider's authorization URL with a fresh ``state``, ``nonce`` and PKCE
verifier (Authlib) and returns them as a ``PendingSignIn`` the browser keeps until it comes
back. ``finish`` checks the returned ``state``, exchanges the code (with the verifier and the
client secret), verifies the ID token's signature against the provider's JWKS and its issuer,
audience, times and nonce, maps the person's groups to inkbridge scopes, and opens a console
session (``console_sessions.open_session``) as ``oidc:<issuer>#<subject>``. Anything that does
not check out is an ``OidcRefused`` with a reason the page can show; nothing of the tokens is
logged or kept.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import secrets
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import httpx

from inkbridge.config_console import OidcSettings
from inkbridge.errors import ConfigError, InkbridgeError
from inkbridge.services.console_sessions import OpenedSession, SignInRefused, open_session
from inkbridge.services.tokens import SCOPES
from inkbridge.store.database import Databases

CALLBACK_PATH = "/console/oidc/callback"
DISCOVERY = "/.well-known/openid-configuration"
# Asymmetric algorithms only: an HMAC-signed ID token would be keyed by the client secret, and
# "none" is never acceptable.
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384")
TIMEOUT = httpx.Timeout(10.0)
MAX_ACTOR = 100  # audit_log.actor and console_sessions.actor
MAX_VALUE = 200  # state, nonce, verifier and the return path are far shorter than this

if TYPE_CHECKING:
    from authlib.integrations.httpx_client import AsyncOAuth2Client
    from authlib.oidc.core import CodeIDToken


def _client_class() -> type[AsyncOAuth2Client]:
    """Authlib's client, imported on first use: with joserfc it weighs about 8 MB, which a
    process whose console has no single sign-on (or is never signed in to) need not carry.

    Authlib 1.9 warns, at import, that its httpx integration will move to an "httpx2" package:
    a notice for Authlib's own plans that every sign-in would otherwise print once.
    (``authlib.deprecate`` installs an "always" filter of its own when first imported, so ours
    goes in after it.)"""
    with warnings.catch_warnings():
        from authlib.deprecate import AuthlibDeprecationWarning

        warnings.filterwarnings(
            "ignore", message="The httpx module is deprecated", category=AuthlibDeprecationWarning
        )
        from authlib.integrations.httpx_client import AsyncOAuth2Client
    return cast("type[AsyncOAuth2Client]", AsyncOAuth2Client)


class OidcRefused(InkbridgeError):
    """The sign-in through the identity provider did not check out; ``reason`` is safe to show."""

    def __init__(self, reason: str, status: int = 401) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class PendingSignIn:
    """What the browser holds (an HttpOnly cookie) between leaving for the provider and coming
    back: the values the answer must match, and where to go afterwards."""

    state: str
    nonce: str
    code_verifier: str
    next_path: str

    def encode(self) -> str:
        return base64.urlsafe_b64encode(json.dumps(asdict(self)).encode()).decode()

    @classmethod
    def decode(cls, value: str | None) -> PendingSignIn | None:
        if not value or len(value) > 4 * MAX_VALUE * 2:
            return None
        try:
            fields = json.loads(base64.urlsafe_b64decode(value.encode()))
        except (ValueError, binascii.Error):
            return None
        names = ("state", "nonce", "code_verifier", "next_path")
        if not isinstance(fields, dict) or set(fields) != set(names):
            return None
        if not all(isinstance(fields[n], str) and 0 < len(fields[n]) <= MAX_VALUE for n in names):
            return None
        return cls(**fields)


def scopes_of_groups(groups: object, group_scopes: Mapping[str, list[str]]) -> frozenset[str]:
    """The scopes the person's groups grant (a claim that is not a list of strings grants none;
    a single string is one group)."""
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list):
        return frozenset()
    return frozenset(
        scope for group in groups if isinstance(group, str) for scope in group_scopes.get(group, [])
    )


def actor_of(issuer: str, subject: str) -> str:
    """``oidc:<issuer>#<subject>``; an audit actor holds 100 characters, so a longer one keeps
    the issuer's host and a digest of the whole, still one actor per person."""
    actor = f"oidc:{issuer}#{subject}"
    if len(actor) <= MAX_ACTOR:
        return actor
    digest = hashlib.sha256(f"{issuer}#{subject}".encode()).hexdigest()[:40]
    return f"oidc:{urlsplit(issuer).netloc[:40]}#sha256:{digest}"


class OidcSignIn:
    """The console's single sign-on through one OpenID Connect provider."""

    def __init__(
        self,
        databases: Databases,
        settings: OidcSettings,
        client_secret: str,
        base_url: str,
    ) -> None:
        unknown = {s for scopes in settings.group_scopes.values() for s in scopes} - SCOPES
        if unknown:
            raise ConfigError(f"console.oidc.group_scopes: unknown scopes {sorted(unknown)}")
        self._databases = databases
        self._settings = settings
        self._client_secret = client_secret
        self.redirect_uri = base_url.rstrip("/") + CALLBACK_PATH

    def _client(self) -> AsyncOAuth2Client:
        return _client_class()(
            client_id=self._settings.client_id,
            client_secret=self._client_secret,
            scope=" ".join(self._settings.requested_scopes),
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            timeout=TIMEOUT,
        )

    async def _get_json(self, client: AsyncOAuth2Client, url: str) -> dict[str, Any]:
        try:
            answer = await client.request("GET", url, withhold_token=True)
            answer.raise_for_status()
            found = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OidcRefused("The identity provider could not be reached.", 502) from exc
        if not isinstance(found, dict):
            raise OidcRefused("The identity provider answered something unexpected.", 502)
        return found

    async def _metadata(self, client: AsyncOAuth2Client) -> dict[str, Any]:
        issuer = self._settings.issuer
        metadata = await self._get_json(client, issuer.rstrip("/") + DISCOVERY)
        if metadata.get("issuer") != issuer:
            # The discovery document must be the configured issuer's own (OIDC Discovery 4.3).
            raise OidcRefused("The identity provider's discovery names another issuer.", 502)
        for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(metadata.get(endpoint), str):
                raise OidcRefused(f"The identity provider publishes no {endpoint}.", 502)
        return metadata

    async def start(self, next_path: str) -> tuple[str, PendingSignIn]:
        """The provider's authorization URL to send the browser to, and what it must keep."""
        pending = PendingSignIn(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            code_verifier=secrets.token_urlsafe(48),
            next_path=next_path,
        )
        async with self._client() as client:
            metadata = await self._metadata(client)
            url, _state = client.create_authorization_url(
                metadata["authorization_endpoint"],
                state=pending.state,
                nonce=pending.nonce,
                code_verifier=pending.code_verifier,
            )
        return str(url), pending

    async def finish(
        self, pending: PendingSignIn | None, query: Mapping[str, str]
    ) -> OpenedSession:
        """Complete the sign-in the provider sent the browser back from."""
        if pending is None or not secrets.compare_digest(query.get("state", ""), pending.state):
            raise OidcRefused("This sign-in is stale or was not started here. Start again.", 403)
        if "error" in query:
            raise OidcRefused("The identity provider did not sign you in.", 401)
        code = query.get("code", "")
        if not code or len(code) > 2048:
            raise OidcRefused("The identity provider sent no authorization code.", 400)
        from authlib.common.errors import AuthlibBaseError

        async with self._client() as client:
            metadata = await self._metadata(client)
            try:
                token = await client.fetch_token(
                    metadata["token_endpoint"],
                    code=code,
                    code_verifier=pending.code_verifier,
                )
            except (AuthlibBaseError, httpx.HTTPError, ValueError) as exc:
                raise OidcRefused("The identity provider refused the authorization code.") from exc
            jwks = await self._get_json(client, metadata["jwks_uri"])
        claims = self._verified_claims(token, jwks, metadata, pending.nonce)
        return await asyncio.to_thread(self._open, claims)

    def _verified_claims(
        self, token: Mapping[str, Any], jwks: dict[str, Any], metadata: dict[str, Any], nonce: str
    ) -> CodeIDToken:
        from authlib.oidc.core import CodeIDToken
        from joserfc import jwt
        from joserfc.errors import JoseError
        from joserfc.jwk import KeySet

        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise OidcRefused("The identity provider sent no ID token.")
        advertised = metadata.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [a for a in SIGNING_ALGORITHMS if a in advertised]
        options: dict[str, Any] = {
            "iss": {"essential": True, "value": self._settings.issuer},
            "aud": {"essential": True, "value": self._settings.client_id},
        }
        params = {"nonce": nonce, "client_id": self._settings.client_id}
        if isinstance(token.get("access_token"), str):
            params["access_token"] = token["access_token"]
        try:
            # The JWKS is the provider's JSON; import_key_set checks its shape itself.
            decoded = jwt.decode(
                id_token, KeySet.import_key_set(cast(Any, jwks)), algorithms=algorithms
            )
            claims = CodeIDToken(decoded.claims, decoded.header, options, params)
            claims.validate(leeway=self._settings.leeway_seconds)
        except (JoseError, ValueError, TypeError) as exc:
            raise OidcRefused("The identity provider's ID token does not check out.") from exc
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise OidcRefused("The identity provider's ID token names no subject.")
        return claims

    def _open(self, claims: CodeIDToken) -> OpenedSession:
        settings = self._settings
        scopes = scopes_of_groups(claims.get(settings.groups_claim), settings.group_scopes)
        name = next(
            (
                str(claims[k])[:MAX_VALUE]
                for k in ("name", "preferred_username", "email")
                if isinstance(claims.get(k), str) and claims[k]
            ),
            str(claims["sub"])[:MAX_VALUE],
        )
        try:
            return open_session(
                self._databases,
                actor=actor_of(settings.issuer, str(claims["sub"])),
                name=name,
                scopes=scopes,
                method="oidc",
            )
        except SignInRefused as exc:
            raise OidcRefused(
                "You are signed in at the identity provider, but none of your groups gives "
                "access to the console. Ask an administrator to map one of them.",
                403,
            ) from exc
