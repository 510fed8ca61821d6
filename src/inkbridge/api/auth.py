"""Bearer-token authentication with scopes, as a FastAPI dependency."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import HTTPException, Request

from inkbridge.services.tokens import TokenIdentity, authenticate


def require(scope: str) -> Callable[[Request], TokenIdentity]:
    """A dependency that admits a bearer token holding ``scope`` (or ``admin``)."""

    def dependency(request: Request) -> TokenIdentity:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise HTTPException(
                401, "Bearer token required", headers={"WWW-Authenticate": "Bearer"}
            )
        identity = authenticate(request.app.state.container.databases, token.strip())
        if identity is None:
            raise HTTPException(401, "Invalid token", headers={"WWW-Authenticate": "Bearer"})
        if not identity.allows(scope):
            raise HTTPException(403, f"Token lacks the {scope!r} scope")
        return identity

    return dependency
