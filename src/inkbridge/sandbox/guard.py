"""Who may call the sandbox apps, route by route.

Each sandbox endpoint is wrapped with what it needs: the ``admin`` scope (personal data, fault
injection, resets), the sandbox service credential (the few routes inkbridge's own sandbox
clients call), or nothing for a stated reason (the signing pages, reached through a signer
session). The host passes an ``Authorizer`` that checks the request; without one (a test, or the
emulator run as its own process) the declarations stand but nothing is enforced.

The service credential is derived from the sandbox connection's webhook secret, so both ends
know it without another secret to configure, and it rotates with that secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from inkbridge.access import declare, public, requires

Endpoint = Callable[[Request], Awaitable[Response]]
# Returns a refusal (401/403) or None when the request may proceed.
Authorizer = Callable[[Request, str], Awaitable[Response | None]]
SERVICE_PREFIX = "ibs_"
_CONTEXT = b"inkbridge sandbox service credential v1"


def service_credential(connection_secret: str) -> str:
    """The bearer credential inkbridge's sandbox clients present, derived from a secret."""
    digest = hmac.new(connection_secret.encode("utf-8"), _CONTEXT, hashlib.sha256).digest()
    return SERVICE_PREFIX + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def guarded(endpoint: Endpoint, scope: str, authorizer: Authorizer | None) -> Endpoint:
    """``endpoint`` behind ``authorizer``, declared as needing ``scope``."""

    async def checked(request: Request) -> Response:
        if authorizer is not None:
            refusal = await authorizer(request, scope)
            if refusal is not None:
                return refusal
        return await endpoint(request)

    return declare(checked, requires(scope))


def open_to_all(endpoint: Endpoint, reason: str) -> Endpoint:
    """``endpoint`` as it is, declared public for ``reason``."""

    async def unchecked(request: Request) -> Response:
        return await endpoint(request)

    return declare(unchecked, public(reason))
