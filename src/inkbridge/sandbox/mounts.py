"""The built-in sandbox: the sandbox provider and destinations mounted into the main app, so
`inkbridge serve` works end to end with no vendor account, and who may call them: an admin
token for everything that shows personal data or changes state, the sandbox service credential
for the routes inkbridge's own sandbox clients use, nobody else (the signing pages aside)."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

from fastapi import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from inkbridge.access import ADMIN, SANDBOX_SERVICE
from inkbridge.api.auth import bearer_token, identify_async
from inkbridge.api.problems import problem
from inkbridge.bootstrap import (
    SANDBOX_CRM_PATH,
    SANDBOX_MARKETING_PATH,
    sandbox_state_dir,
)
from inkbridge.config import SANDBOX_CONNECTION, Settings, resolve_secret
from inkbridge.errors import ConfigError
from inkbridge.local_site import (
    SANDBOX_STATE_FILES,
    sandbox_provider_path,
    sandbox_provider_state_file,
)
from inkbridge.sandbox.guard import service_credential
from inkbridge.store.database import Databases


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine (127.0.0.0/8, ::1, localhost)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # any other name may resolve to an address other machines reach


class SandboxAuthorizer:
    """Admits an admin token anywhere, and the service credential on service routes only."""

    def __init__(self, databases: Databases, service_credentials: list[str]) -> None:
        self._databases = databases
        # One per configured secret: the credential rotates along with the connection's secret.
        self._service = [c.encode("utf-8") for c in service_credentials]

    def _is_service(self, token: str) -> bool:
        presented = token.encode("utf-8")
        return any(hmac.compare_digest(presented, known) for known in self._service)

    async def __call__(self, request: Request, scope: str) -> Response | None:
        token = bearer_token(request)
        if token is not None and self._is_service(token):
            if scope == SANDBOX_SERVICE:
                return None
            return problem(403, "The sandbox service credential may not use this route")
        try:
            await identify_async(self._databases, token, ADMIN)
        except HTTPException as exc:
            response = problem(exc.status_code, str(exc.detail))
            response.headers.update(exc.headers or {})
            return response
        return None


def sandbox_connections(settings: Settings) -> list[str]:
    """The sandbox connections this server's sandbox provider serves: every connection of the
    sandbox provider with no ``api_url`` of its own, the ``sandbox`` connection first."""
    served = [
        name
        for name, conn in settings.connections.items()
        if conn.provider == "sandbox" and conn.api_url is None
    ]
    return sorted(served, key=lambda name: (name != SANDBOX_CONNECTION, name))


def _secrets(settings: Settings, connection: str) -> list[str]:
    conn = settings.connections.get(connection)
    if conn is None or not conn.secrets:
        raise ConfigError(f"the sandbox needs a {connection!r} connection with a secret")
    return [resolve_secret(ref).get_secret_value() for ref in conn.secrets]


def sandbox_mounts(settings: Settings, databases: Databases) -> list[tuple[str, Any, Any]]:
    """(path, ASGI app, start/stop hooks or None) for each sandbox part, each behind a
    ``SandboxAuthorizer`` of ``databases``' token store.

    The sandbox provider has one account per sandbox connection, so one per region: each
    keeps its envelopes in a state file of its own, sends their webhooks to its connection
    only, signed with that connection's secret, and admits only that connection's service
    credential. The sandbox CRM and marketing tool take the ``sandbox`` connection's."""
    from inkbridge.sandbox.crm import create_crm_app
    from inkbridge.sandbox.provider import create_provider_app

    home_secrets = _secrets(settings, SANDBOX_CONNECTION)
    state = sandbox_state_dir(settings)
    state.mkdir(parents=True, exist_ok=True)
    base = settings.server.base_url
    mounts: list[tuple[str, Any, Any]] = []
    for connection in sandbox_connections(settings):
        secrets = _secrets(settings, connection)
        path = sandbox_provider_path(connection)
        provider_app = create_provider_app(
            state_path=state / sandbox_provider_state_file(connection),
            webhook_url=f"{base}/v1/webhooks/{connection}",
            webhook_secret=secrets[0],
            public_url=base + path,
            authorizer=SandboxAuthorizer(databases, [service_credential(s) for s in secrets]),
        )
        mounts.append((path, provider_app, provider_app.state.sandbox))
    authorizer = SandboxAuthorizer(databases, [service_credential(s) for s in home_secrets])
    crm = create_crm_app(
        state / SANDBOX_STATE_FILES[SANDBOX_CRM_PATH], kind="crm", authorizer=authorizer
    )
    marketing = create_crm_app(
        state / SANDBOX_STATE_FILES[SANDBOX_MARKETING_PATH], kind="marketing", authorizer=authorizer
    )
    return [
        *mounts,
        (SANDBOX_CRM_PATH, crm, None),
        (SANDBOX_MARKETING_PATH, marketing, None),
    ]
