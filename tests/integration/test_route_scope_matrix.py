"""The route x scope matrix: every route of the application (the API and the mounted sandbox
apps), called with no token, a bad token, a token of each scope, a revoked and an expired admin
token and the sandbox service credential, answers 401/403 exactly where the route's declared
requirement is not held. A route that declares nothing fails the matrix."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from inkbridge.access import (
    ADMIN,
    PUBLIC_ROUTES,
    SANDBOX_SERVICE,
    SESSION,
    RouteEntry,
    route_table,
)
from inkbridge.api.app import create_app
from inkbridge.api.auth import require
from inkbridge.bootstrap import Container, bootstrap
from inkbridge.sandbox.guard import service_credential
from inkbridge.sandbox.mounts import sandbox_mounts
from inkbridge.services.tokens import create_token, revoke_token
from inkbridge.store.schema import api_tokens
from tests.support.builders import SECRET, make_settings

SANDBOX_MOUNTS = ("/sandbox/provider", "/sandbox/crm", "/sandbox/marketing")


@dataclass(frozen=True)
class Credential:
    """One column of the matrix: what is sent, and what it is allowed to do."""

    name: str
    header: str | None
    scopes: frozenset[str] = frozenset()  # empty: authenticates nothing
    service: bool = False

    def holds(self, scope: str) -> bool:
        if self.service:
            return scope == SANDBOX_SERVICE
        return ADMIN in self.scopes or scope in self.scopes

    @property
    def authenticates(self) -> bool:
        return self.service or bool(self.scopes)


@dataclass
class World:
    container: Container
    app: FastAPI
    front: object
    credentials: list[Credential]


def _bearer(token: str) -> str:
    return f"Bearer {token}"


@pytest.fixture
def world(tmp_path: Path, sqlite_url: str) -> Iterator[World]:
    settings = make_settings(tmp_path, sqlite_url, sandbox=True)
    container = bootstrap(settings, auto_migrate=True)
    dbs = container.databases
    front = create_app(container, sandbox_apps=sandbox_mounts(settings, dbs))
    credentials = [
        Credential("no token", None),
        Credential("bad token", _bearer("ibk_not-a-token-anyone-was-given")),
        Credential("malformed header", "Basic dXNlcjpwYXNz"),
    ]
    for scope in ("read", "leads:write", "envelopes:write", "documents", "privacy", "admin"):
        _, token = create_token(dbs, f"matrix-{scope}", [scope])
        credentials.append(Credential(scope, _bearer(token), frozenset({scope})))
    revoked_id, revoked = create_token(dbs, "matrix-revoked", ["admin"])
    revoke_token(dbs, revoked_id)
    credentials.append(Credential("revoked admin", _bearer(revoked)))
    expired_id, expired = create_token(dbs, "matrix-expired", ["admin"], expires_in=timedelta(1))
    with dbs.home.transaction() as conn:
        conn.execute(
            update(api_tokens)
            .where(api_tokens.c.id == expired_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    credentials.append(Credential("expired admin", _bearer(expired)))
    credentials.append(
        Credential("sandbox service", _bearer(service_credential(SECRET)), service=True)
    )
    app = front.app  # type: ignore[attr-defined]
    while not isinstance(app, FastAPI):  # the body limits wrap the framework app
        app = app.app
    yield World(container, app, front, credentials)
    dbs.dispose()


def undeclared(entries: list[RouteEntry]) -> list[tuple[str, str]]:
    return [(e.method, e.path) for e in entries if e.access is None]


def _concrete(path: str) -> str:
    """A path template with every parameter filled by a value no resource has."""
    return re.sub(r"\{[^}]+\}", "matrix-none", path)


def _expected(entry: RouteEntry, credential: Credential) -> int | None:
    """401 or 403 where the route must refuse; None where it must not answer either."""
    assert entry.access is not None and entry.access.scope is not None
    if credential.holds(entry.access.scope):
        return None
    if not credential.authenticates:
        return 401
    if credential.service and not entry.path.startswith("/sandbox/"):
        return 401  # the API's token store does not know the sandbox credential
    return 403


def test_every_route_declares_what_it_requires(world: World) -> None:
    entries = list(route_table(world.app.routes))
    assert len(entries) > 40
    assert undeclared(entries) == []


def test_every_sandbox_route_is_in_the_matrix(world: World) -> None:
    paths = {(e.method, e.path) for e in route_table(world.app.routes)}
    for mount in world.app.routes:
        if not isinstance(mount, Mount):
            continue
        for route in mount.routes:
            assert isinstance(route, Route)
            for method in (route.methods or set()) - {"HEAD"}:
                assert (method, mount.path + route.path) in paths
    sandbox = {p for _, p in paths if p.startswith("/sandbox/")}
    for prefix in SANDBOX_MOUNTS:
        assert any(p.startswith(prefix + "/") for p in sandbox), prefix
    # Only the signing page and its two buttons are open, for the signer's session.
    open_sandbox = sorted(
        (e.method, e.path)
        for e in route_table(world.app.routes)
        if e.path.startswith("/sandbox/") and e.access is not None and e.access.public
    )
    assert open_sandbox == [
        ("GET", "/sandbox/provider/sign/{token}"),
        ("POST", "/sandbox/provider/sign/{token}/decline"),
        ("POST", "/sandbox/provider/sign/{token}/sign"),
    ]


def test_every_route_refuses_exactly_the_credentials_that_lack_its_scope(world: World) -> None:
    entries = [e for e in route_table(world.app.routes) if e.access is not None]

    async def run() -> list[str]:
        wrong: list[str] = []
        transport = httpx.ASGITransport(app=world.front)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://matrix") as client:
            for entry in entries:
                answers: dict[str, int] = {}
                for credential in world.credentials:
                    headers = {"authorization": credential.header} if credential.header else {}
                    body = {} if entry.method in {"POST", "PUT", "PATCH"} else None
                    answer = await client.request(
                        entry.method, _concrete(entry.path), headers=headers, json=body
                    )
                    answers[credential.name] = answer.status_code
                    assert entry.access is not None
                    if entry.access.public or entry.access.via == SESSION:
                        continue
                    expected = _expected(entry, credential)
                    got = answer.status_code
                    if expected is None and got in {401, 403}:
                        wrong.append(f"{entry.method} {entry.path} [{credential.name}]: {got}")
                    if expected is not None and got != expected:
                        wrong.append(
                            f"{entry.method} {entry.path} [{credential.name}]: "
                            f"{got}, expected {expected}"
                        )
                if entry.access.public and len(set(answers.values())) != 1:
                    # A public route answers the same whatever bearer token comes along.
                    wrong.append(f"{entry.method} {entry.path} (public): {answers}")
                if entry.access.via == SESSION and set(answers.values()) - {303, 401}:
                    # No bearer token admits a console route: each is sent to sign in (the
                    # session x scope matrix is tests/integration/console/).
                    wrong.append(f"{entry.method} {entry.path} (session): {answers}")
        return wrong

    assert asyncio.run(run()) == []


def test_a_route_added_without_a_declaration_fails_the_matrix(world: World) -> None:
    @world.app.get("/v1/leads-export")
    def leads_export() -> dict[str, str]:
        return {}

    async def unguarded(_request: Request) -> JSONResponse:
        return JSONResponse({})

    world.app.router.routes.append(
        Mount("/sandbox/extra", app=Starlette(routes=[Route("/dump", unguarded)]))
    )
    assert undeclared(list(route_table(world.app.routes))) == [
        ("GET", "/v1/leads-export"),
        ("GET", "/sandbox/extra/dump"),
    ]


def test_a_route_declares_its_scope_through_the_require_dependency() -> None:
    app = FastAPI()

    @app.get("/v1/scoped")
    def scoped(_: Annotated[object, Depends(require("read"))]) -> dict[str, str]:
        return {}

    @app.get("/v1/unscoped")
    def unscoped() -> dict[str, str]:
        return {}

    table = {e.path: e.access for e in route_table(app.routes)}
    assert table["/v1/scoped"] is not None and table["/v1/scoped"].scope == "read"
    assert table["/v1/unscoped"] is None


def test_public_routes_are_listed_with_a_reason() -> None:
    assert all(reason.strip() for reason in PUBLIC_ROUTES.values())
