"""Bearer-token authentication with scopes, as a FastAPI dependency that also declares the
route's requirement (``inkbridge.access``) for the route x scope matrix."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import HTTPException, Request
from starlette.concurrency import run_in_threadpool

from inkbridge.access import declare, requires
from inkbridge.services.tokens import TokenIdentity, authenticate
from inkbridge.store.database import Databases


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def identify(
    databases: Databases, token: str | None, scope: str, alternatives: tuple[str, ...] = ()
) -> TokenIdentity:
    """The token's identity if it holds ``scope`` (or one of ``alternatives``); else 401 (none,
    unknown, revoked, expired) or 403 (valid but lacking the scope)."""
    if token is None:
        raise HTTPException(401, "Bearer token required", headers={"WWW-Authenticate": "Bearer"})
    identity = authenticate(databases, token)
    if identity is None:
        raise HTTPException(401, "Invalid token", headers={"WWW-Authenticate": "Bearer"})
    if not identity.allows(scope) and not identity.scopes.intersection(alternatives):
        raise HTTPException(403, f"Token lacks the {scope!r} scope")
    return identity


def require(scope: str, *alternatives: str) -> Callable[[Request], TokenIdentity]:
    """A dependency that admits a bearer token holding ``scope`` (or ``admin``), or one of the
    narrower ``alternatives`` the route also serves (``golive``)."""

    def dependency(request: Request) -> TokenIdentity:
        return identify(
            request.app.state.container.databases, bearer_token(request), scope, alternatives
        )

    return declare(dependency, requires(scope, *alternatives))


async def identify_async(databases: Databases, token: str | None, scope: str) -> TokenIdentity:
    """``identify`` off the event loop, for plain Starlette endpoints."""
    return await run_in_threadpool(identify, databases, token, scope)
