"""Console single sign-on through OpenID Connect, against the OIDC provider emulator served on a
port: the whole flow through the real app (redirects followed as a browser would), the
person's groups mapped to scopes, and every answer that does not check out refused (a tampered
state or nonce, an ID token from another issuer or signed with an unpublished key, a person
whose groups map to no scope)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from sqlalchemy import select

from inkbridge.api.app import create_app
from inkbridge.bootstrap import Container, bootstrap
from inkbridge.config import Settings
from inkbridge.errors import ConfigError
from inkbridge.services.console_oidc import actor_of
from inkbridge.store.schema import audit_log, console_sessions
from inkbridge_emulators.oidc import OidcProvider, Person, new_key
from inkbridge_emulators.oidc import create_app as oidc_app
from tests.integration.console.conftest import csrf_of
from tests.support.builders import make_settings
from tests.support.served import Served

BASE = "http://console.test"
CALLBACK = f"{BASE}/console/oidc/callback"


@dataclass
class Sso:
    container: Container
    provider: OidcProvider
    issuer: str
    client: httpx.AsyncClient


@pytest.fixture
def idp() -> Iterator[tuple[OidcProvider, str]]:
    provider = OidcProvider(redirect_uris=[CALLBACK])
    served = Served(oidc_app(provider))
    served.start()
    try:
        yield provider, served.url
    finally:
        served.stop()


def sso_settings(tmp_path: Path, db_url: str, issuer: str, **oidc: object) -> Settings:
    secret = tmp_path / "oidc.secret"
    secret.write_text("emulator-client-secret")
    table = {
        "issuer": issuer,
        "client_id": "inkbridge-console",
        "client_secret": f"file:{secret}",
        "group_scopes": {"revops": ["read"], "ops": ["admin"]},
        **oidc,
    }
    return make_settings(tmp_path, db_url, server={"public_url": BASE}, console={"oidc": table})


@pytest.fixture
async def sso(tmp_path: Path, db_url: str, idp: tuple[OidcProvider, str]) -> AsyncIterator[Sso]:
    provider, issuer = idp
    container = bootstrap(sso_settings(tmp_path, db_url, issuer), auto_migrate=True)
    # The browser: inkbridge in-process, the identity provider over the network.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(container)),  # type: ignore[arg-type]
        mounts={issuer: httpx.AsyncHTTPTransport()},
        base_url=BASE,
    ) as client:
        yield Sso(container, provider, issuer, client)
    container.databases.dispose()


async def sign_in_through_the_provider(sso: Sso, next_path: str = "/console") -> httpx.Response:
    return await sso.client.get(
        "/console/sign-in/oidc", params={"next": next_path}, follow_redirects=True
    )


async def to_callback(sso: Sso, **tamper: str) -> httpx.Response:
    """Start the flow, change ``tamper``'s parameters of the authorization request (``nonce``)
    or of the way back (``state``), and return the callback's answer."""
    start = await sso.client.get("/console/sign-in/oidc")
    assert start.status_code == 303
    authorize = urlsplit(start.headers["location"])
    query = {k: v[0] for k, v in parse_qs(authorize.query).items()}
    query.update({k: v for k, v in tamper.items() if k == "nonce"})
    approved = await sso.client.get(urlunsplit(authorize._replace(query=urlencode(query))))
    assert approved.status_code == 302
    back = urlsplit(approved.headers["location"])
    returned = {k: v[0] for k, v in parse_qs(back.query).items()}
    returned.update({k: v for k, v in tamper.items() if k == "state"})
    return await sso.client.get("/console/oidc/callback", params=returned)


def sessions(sso: Sso) -> list[str]:
    with sso.container.databases.home.reader() as conn:
        return list(conn.execute(select(console_sessions.c.actor)).scalars())


async def test_the_sign_in_page_offers_single_sign_on_when_it_is_configured(sso: Sso) -> None:
    page = await sso.client.get("/console/sign-in")
    assert page.status_code == 200
    assert "Sign in with SSO" in page.text
    assert 'href="/console/sign-in/oidc?next=/console"' in page.text


async def test_a_person_signs_in_through_the_provider_and_lands_on_the_page_asked_for(
    sso: Sso,
) -> None:
    landed = await sign_in_through_the_provider(sso, "/console/funnel")
    assert landed.status_code == 200, landed.text
    assert str(landed.url).startswith(CALLBACK)
    assert 'http-equiv="refresh" content="0;url=/console/funnel"' in landed.text
    cookie = next(
        c for c in landed.headers.get_list("set-cookie") if c.startswith("inkbridge_console=")
    )
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    funnel = await sso.client.get("/console/funnel")
    assert funnel.status_code == 200
    assert "Ada Lovelace" in funnel.text and "(read)" in funnel.text
    actor = f"oidc:{sso.issuer}#person-1"
    assert sessions(sso) == [actor]
    with sso.container.databases.home.reader() as conn:
        entry = conn.execute(
            select(audit_log.c.actor, audit_log.c.details).where(
                audit_log.c.action == "console:session:signed_in"
            )
        ).one()
    assert entry.actor == actor
    assert entry.details["method"] == "oidc" and entry.details["scopes"] == ["read"]


async def test_a_read_only_person_cannot_replay_dead_letters_and_an_ops_person_can(
    sso: Sso,
) -> None:
    await sign_in_through_the_provider(sso)
    form = {"csrf": csrf_of((await sso.client.get("/console")).text), "id": "1", "region": "x"}
    refused = await sso.client.post(
        "/console/dead-letters/replay", data=form, headers={"origin": BASE}
    )
    assert refused.status_code == 403
    assert "admin" in refused.text

    sso.provider.person = Person(sub="person-2", name="Grace Hopper", groups=["ops", "other"])
    sso.client.cookies.clear()
    await sign_in_through_the_provider(sso)
    form["csrf"] = csrf_of((await sso.client.get("/console")).text)
    admitted = await sso.client.post(
        "/console/dead-letters/replay", data=form, headers={"origin": BASE}
    )
    assert admitted.status_code == 303  # past the scope check: the replay itself ran
    assert f"oidc:{sso.issuer}#person-2" in sessions(sso)


async def test_a_tampered_state_is_refused(sso: Sso) -> None:
    answer = await to_callback(sso, state="forged-state")
    assert answer.status_code == 403
    assert "not started here" in answer.text
    assert sessions(sso) == []


async def test_a_way_back_without_the_flow_cookie_is_refused(sso: Sso) -> None:
    start = await sso.client.get("/console/sign-in/oidc")
    approved = await sso.client.get(start.headers["location"])
    sso.client.cookies.clear()  # another browser, as in a login CSRF
    answer = await sso.client.get(approved.headers["location"])
    assert answer.status_code == 403
    assert sessions(sso) == []


async def test_an_id_token_with_a_tampered_nonce_is_refused(sso: Sso) -> None:
    answer = await to_callback(sso, nonce="nonce-of-another-flow")
    assert answer.status_code == 401
    assert "does not check out" in answer.text
    assert sessions(sso) == []


async def test_an_id_token_from_another_issuer_is_refused(sso: Sso) -> None:
    sso.provider.id_token_issuer = "http://impostor.example"
    answer = await sign_in_through_the_provider(sso)
    assert answer.status_code == 401
    assert sessions(sso) == []


async def test_an_id_token_signed_with_a_key_the_provider_does_not_publish_is_refused(
    sso: Sso,
) -> None:
    sso.provider.signing_key = new_key()
    answer = await sign_in_through_the_provider(sso)
    assert answer.status_code == 401
    assert "does not check out" in answer.text
    assert sessions(sso) == []


async def test_a_person_whose_groups_map_to_no_scope_is_refused_with_a_clear_page(
    sso: Sso,
) -> None:
    sso.provider.person = Person(sub="person-3", groups=["marketing"])
    answer = await sign_in_through_the_provider(sso)
    assert answer.status_code == 403
    assert "none of your groups gives access to the console" in answer.text
    assert sessions(sso) == []
    assert (await sso.client.get("/console", follow_redirects=False)).status_code == 303


def test_group_scopes_naming_an_unknown_scope_stop_the_start(tmp_path: Path) -> None:
    settings = sso_settings(
        tmp_path,
        f"sqlite:///{tmp_path}/default.db",
        "http://127.0.0.1:9",
        group_scopes={"revops": ["reed"]},
    )
    with pytest.raises(ConfigError, match="reed"):
        bootstrap(settings, auto_migrate=True)


def test_a_long_issuer_and_subject_still_make_one_short_actor_per_person() -> None:
    issuer = "https://login.example.com/" + "t" * 60 + "/v2.0"
    first, second = actor_of(issuer, "s" * 43), actor_of(issuer, "s" * 42 + "z")
    assert len(first) <= 100 and len(second) <= 100 and first != second
    assert re.fullmatch(r"oidc:login\.example\.com#sha256:[0-9a-f]{40}", first)
    assert actor_of("https://idp.example", "abc") == "oidc:https://idp.example#abc"
