"""Signing in to the console: a token posted once becomes an opaque session cookie (HttpOnly,
SameSite=Strict, Secure over HTTPS), the token never reaches a page, sign-in and sign-out are
audit entries of the person, and a form without its CSRF token or from another origin is
refused."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from inkbridge.services.tokens import list_tokens, revoke_token
from inkbridge.store.schema import audit_log, console_sessions
from tests.integration.console.conftest import (
    ORIGIN,
    World,
    csrf_of,
    page_csrf,
    sign_in,
)


def _console_actions(world: World) -> list[tuple[str, str]]:
    with world.container.databases.home.reader() as conn:
        rows = conn.execute(
            select(audit_log.c.actor, audit_log.c.action)
            .where(audit_log.c.action.like("console:%"))
            .order_by(audit_log.c.seq)
        ).all()
    return [(r.actor, r.action) for r in rows]


async def test_a_page_before_signing_in_redirects_to_the_sign_in_form(world: World) -> None:
    answer = await world.client.get("/console/funnel")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/sign-in?next=/console/funnel"
    for old in ("/", "/dashboard"):
        moved = await world.client.get(old)
        assert moved.status_code == 307 and moved.headers["location"] == "/console"


async def test_signing_in_sets_an_http_only_strict_session_cookie_holding_no_token(
    world: World,
) -> None:
    token = world.tokens["read"]
    answer = await sign_in(world.client, token)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console"
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("inkbridge_console=")
    )
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags and "samesite=strict" in flags and "path=/console" in flags
    assert "secure" not in flags  # plain HTTP here; see the HTTPS test
    session_id = cookie.split(";", 1)[0].split("=", 1)[1]
    assert token not in cookie and session_id not in token
    with world.container.databases.home.reader() as conn:
        stored = conn.execute(select(console_sessions.c.id_hash)).scalars().all()
    assert session_id not in stored and len(stored) == 1  # only its hash is kept
    page = await world.client.get("/console")
    assert page.status_code == 200 and "console-read" in page.text
    assert token not in page.text
    assert _console_actions(world)[-1][1] == "console:session:signed_in"


async def test_the_session_cookie_is_secure_over_https(world: World) -> None:
    transport = world.client._transport
    async with httpx.AsyncClient(transport=transport, base_url="https://console.test") as client:
        form = await client.get("/console/sign-in")
        answer = await client.post(
            "/console/sign-in",
            data={"csrf": csrf_of(form.text), "token": world.tokens["read"]},
            headers={"origin": "https://console.test"},
        )
    assert answer.status_code == 303
    cookie = next(
        c for c in answer.headers.get_list("set-cookie") if c.startswith("inkbridge_console=")
    )
    assert "secure" in [part.strip().lower() for part in cookie.split(";")]


async def test_a_wrong_token_or_one_without_read_does_not_open_the_console(world: World) -> None:
    for token in ("ibk_nobody-has-this", world.tokens["leads:write"]):
        answer = await sign_in(world.client, token)
        assert answer.status_code == 401
        assert "does not open the console" in answer.text
        assert token not in answer.text
        assert "inkbridge_console=" not in answer.headers.get("set-cookie", "")
    assert (await world.client.get("/console")).status_code == 303


async def test_sign_in_without_its_form_token_or_from_another_origin_is_refused(
    world: World,
) -> None:
    form = await world.client.get("/console/sign-in")
    nonce = csrf_of(form.text)
    token = world.tokens["read"]
    no_nonce = await world.client.post("/console/sign-in", data={"token": token}, headers=ORIGIN)
    foreign = await world.client.post(
        "/console/sign-in",
        data={"csrf": nonce, "token": token},
        headers={"origin": "https://evil.example"},
    )
    no_origin = await world.client.post("/console/sign-in", data={"csrf": nonce, "token": token})
    assert [no_nonce.status_code, foreign.status_code, no_origin.status_code] == [403] * 3
    assert (await world.client.get("/console")).status_code == 303


async def test_sign_out_ends_the_session_and_is_audited_as_the_person(world: World) -> None:
    await sign_in(world.client, world.tokens["admin"])
    csrf = await page_csrf(world.client)
    refused = await world.client.post(
        "/console/sign-out", data={"csrf": csrf}, headers={"origin": "https://evil.example"}
    )
    assert refused.status_code == 403
    missing = await world.client.post("/console/sign-out", data={}, headers=ORIGIN)
    assert missing.status_code == 403
    assert (await world.client.get("/console")).status_code == 200

    answer = await world.client.post("/console/sign-out", data={"csrf": csrf}, headers=ORIGIN)
    assert answer.status_code == 303
    assert (await world.client.get("/console")).status_code == 303
    actor = _console_actions(world)[-1][0]
    assert actor.startswith("token:")
    assert _console_actions(world)[-2:] == [
        (actor, "console:session:signed_in"),
        (actor, "console:session:signed_out"),
    ]
    with world.container.databases.home.reader() as conn:
        assert conn.execute(select(console_sessions.c.id_hash)).first() is None


async def test_a_revoked_token_ends_its_console_sessions(world: World) -> None:
    await sign_in(world.client, world.tokens["read"])
    assert (await world.client.get("/console")).status_code == 200
    token_id = next(
        t["id"] for t in list_tokens(world.container.databases) if t["name"] == "console-read"
    )
    revoke_token(world.container.databases, token_id)
    assert (await world.client.get("/console")).status_code == 303
