"""The console's session x scope matrix: every route declared for a session (walked from the
app, so a new page is covered by construction) admits a session holding its scope and refuses
one that does not with 403, even with a valid CSRF token; without a session a page sends the
browser to sign in. An identity provider's sign-in only has to call ``open_session``."""

from __future__ import annotations

import re

import pytest

from inkbridge.access import SESSION, route_table
from inkbridge.services.console_sessions import SignInRefused, current_session, open_session
from tests.integration.console.conftest import ORIGIN, World, page_csrf, sign_in


def _concrete(world: World, path: str) -> str:
    return re.sub(
        r"\{[^}]+\}",
        lambda m: world.lead_id if m.group(0) == "{lead_id}" else world.envelope_id,
        path,
    )


def _session_routes(world: World) -> list[tuple[str, str, str]]:
    app = world.client._transport.app  # type: ignore[attr-defined]
    while not hasattr(app, "routes"):
        app = app.app
    found = [
        (e.method, e.path, e.access.scope)
        for e in route_table(app.routes)
        if e.access is not None and e.access.via == SESSION and e.access.scope is not None
    ]
    assert len(found) >= 13
    return found


@pytest.mark.parametrize("scope", ["read", "admin"])
async def test_each_console_route_admits_exactly_the_sessions_holding_its_scope(
    world: World, scope: str
) -> None:
    routes = _session_routes(world)
    for method, path, _ in routes:
        if method == "GET":
            answer = await world.client.get(_concrete(world, path))
            assert answer.status_code == 303, path
    await sign_in(world.client, world.tokens[scope])
    csrf = await page_csrf(world.client)
    wrong = []
    for method, path, needed in sorted(routes, key=lambda r: r[1] == "/console/sign-out"):
        target = _concrete(world, path)
        if method == "GET":
            answer = await world.client.get(target)
        else:
            answer = await world.client.post(
                target, data={"csrf": csrf, "id": "999999", "region": "default"}, headers=ORIGIN
            )
        allowed = scope == "admin" or needed == scope
        if allowed and answer.status_code in {401, 403}:
            wrong.append(f"{method} {path}: {answer.status_code}")
        if not allowed and answer.status_code != 403:
            wrong.append(f"{method} {path}: {answer.status_code}, expected 403")
    assert wrong == []


def test_an_identity_provider_sign_in_opens_a_session_with_the_scopes_it_maps(
    world: World,
) -> None:
    databases = world.container.databases
    opened = open_session(
        databases,
        actor="oidc:https://idp.example#alice",
        name="Alice",
        scopes=frozenset({"read", "not-a-scope"}),
        method="oidc",
    )
    live = current_session(databases, opened.session_id)
    assert live is not None and live.actor == "oidc:https://idp.example#alice"
    assert live.scopes == frozenset({"read"})
    with pytest.raises(SignInRefused):
        open_session(databases, actor="oidc:x#bob", name="Bob", scopes=frozenset({"documents"}))
