"""An OpenID Connect provider emulator: the authorization code flow with PKCE, for one client
and one person it signs in without asking, or (``ask``) a sign-in page where any of its people
signs in by email, as a person does at a real identity provider.

- ``GET /.well-known/openid-configuration`` the discovery document (the issuer is
  ``--issuer``, or the URL the request reached)
- ``GET /jwks`` the public half of the RSA key ID tokens are signed with (RS256, with a ``kid``)
- ``GET /authorize`` checks the client, the redirect URI (when ``redirect_uris`` are set),
  ``response_type=code`` and an S256 ``code_challenge``, then sends the browser back at once
  with a one-use code and the ``state`` it was given (the configured person auto-approves);
  with ``ask``, it answers a sign-in page instead, whose form (``POST /authorize``) names the
  person by email and is then sent back the same way
- ``POST /token`` the code for tokens: client secret (Basic or in the form), the same redirect
  URI, the PKCE verifier; the ID token carries ``sub``, ``name``, ``email``, the groups claim
  and the request's ``nonce``

Misbehaviours for tests (attributes of ``OidcProvider``): ``id_token_issuer`` signs ID tokens
as another issuer; ``signing_key`` can be swapped for a key the JWKS does not publish.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from inkbridge_emulators.process import emulator_arguments, serve

DEFAULT_PORT = 8090
KEY_ID = "emulator-key-1"
ID_TOKEN_SECONDS = 300


@dataclass
class Person:
    """Who the emulator signs in."""

    sub: str = "person-1"
    name: str = "Ada Lovelace"
    email: str = "ada@example.com"
    groups: list[str] = field(default_factory=lambda: ["revops"])


@dataclass
class Grant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    person: Person | None = None  # who signed in at the page; None: the provider's person


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@dataclass
class OidcProvider:
    """The provider's state: its client, its person, its keys and the codes it issued."""

    client_id: str = "inkbridge-console"
    client_secret: str = "emulator-client-secret"  # noqa: S105 - a development default
    issuer: str | None = None
    redirect_uris: list[str] = field(default_factory=list)
    groups_claim: str = "groups"
    person: Person = field(default_factory=Person)
    # ``ask``: a sign-in page rather than auto-approval; ``people`` may sign in there too.
    ask: bool = False
    people: list[Person] = field(default_factory=list)
    published_key: rsa.RSAPrivateKey = field(default_factory=new_key)
    signing_key: rsa.RSAPrivateKey | None = None  # None: the published key
    id_token_issuer: str | None = None  # None: the issuer
    codes: dict[str, Grant] = field(default_factory=dict)

    def issuer_of(self, request: Request) -> str:
        return self.issuer or str(request.base_url).rstrip("/")

    def jwks(self) -> dict[str, Any]:
        numbers = self.published_key.public_key().public_numbers()
        key = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": KEY_ID}
        return {"keys": [{**key, "n": _b64(numbers.n), "e": _b64(numbers.e)}]}

    def by_email(self, email: str) -> Person | None:
        wanted = email.strip().lower()
        return next((p for p in (self.person, *self.people) if p.email == wanted), None)

    def id_token(self, issuer: str, grant: Grant) -> str:
        person = grant.person or self.person
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.id_token_issuer or issuer,
            "sub": person.sub,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + ID_TOKEN_SECONDS,
            "name": person.name,
            "email": person.email,
            self.groups_claim: list(person.groups),
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        key = self.signing_key or self.published_key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": KEY_ID})


def _error(error: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error}, status_code=status)


def _client_of(request: Request, form: dict[str, str]) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return "", ""
        return client_id, secret
    return form.get("client_id", ""), form.get("client_secret", "")


def sign_in_page(query: Mapping[str, str], problem: str = "", status: int = 200) -> Response:
    """The provider's own sign-in form: the authorization request rides along as hidden
    fields, the person types an email."""
    hidden = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in query.items()
    )
    alert = f'<p role="alert">{escape(problem)}</p>' if problem else ""
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Sign in · OIDC emulator</title></head><body><main><h1>OIDC emulator</h1>"
        f'{alert}<form method="post" action="/authorize">{hidden}'
        '<label for="login">Email</label> <input id="login" name="login" type="email" required>'
        ' <button type="submit">Continue</button></form></main></body></html>'
    )
    return HTMLResponse(body, status_code=status)


def create_app(provider: OidcProvider | None = None) -> Starlette:
    """The emulator as an ASGI app; ``app.state.provider`` is its state."""
    state = provider or OidcProvider()

    async def discovery(request: Request) -> Response:
        issuer = state.issuer_of(request)
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "issuer": issuer,
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/token",
                "jwks_uri": f"{base}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                ],
                "scopes_supported": ["openid", "profile", "email", "groups"],
                "claims_supported": ["sub", "name", "email", state.groups_claim],
            }
        )

    async def jwks(_request: Request) -> Response:
        return JSONResponse(state.jwks())

    def refused(query: Mapping[str, str]) -> Response | None:
        redirect_uri = query.get("redirect_uri", "")
        if query.get("client_id") != state.client_id:
            return _error("unauthorized_client")
        if not redirect_uri or (state.redirect_uris and redirect_uri not in state.redirect_uris):
            return _error("invalid_request")  # never redirect to an unregistered URI
        if query.get("response_type") != "code" or "openid" not in query.get("scope", "").split():
            return _error("invalid_request")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return _error("invalid_request")
        return None

    def approved(query: Mapping[str, str], person: Person | None) -> Response:
        code = secrets.token_urlsafe(24)
        state.codes[code] = Grant(
            state.client_id,
            query["redirect_uri"],
            query["code_challenge"],
            query.get("nonce"),
            person,
        )
        back = {"code": code, **({"state": query["state"]} if "state" in query else {})}
        return RedirectResponse(f"{query['redirect_uri']}?{urlencode(back)}", status_code=302)

    async def authorize(request: Request) -> Response:
        if request.method == "POST":
            form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
            query = {k: v for k, v in form.items() if k != "login"}
            problem = refused(query)
            if problem is not None:
                return problem
            person = state.by_email(form.get("login", ""))
            if person is None:
                return sign_in_page(query, "No such person here.", 401)
            return approved(query, person)
        query = dict(request.query_params)
        problem = refused(query)
        if problem is not None:
            return problem
        if state.ask:
            return sign_in_page(query)
        return approved(query, None)

    async def token(request: Request) -> Response:
        form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        client_id, secret = _client_of(request, form)
        if client_id != state.client_id or not secrets.compare_digest(secret, state.client_secret):
            return _error("invalid_client", 401)
        if form.get("grant_type") != "authorization_code":
            return _error("unsupported_grant_type")
        grant = state.codes.pop(form.get("code", ""), None)  # one use only
        if grant is None or grant.redirect_uri != form.get("redirect_uri"):
            return _error("invalid_grant")
        if s256(form.get("code_verifier", "")) != grant.code_challenge:
            return _error("invalid_grant")
        return JSONResponse(
            {
                "access_token": secrets.token_urlsafe(24),
                "token_type": "Bearer",
                "expires_in": ID_TOKEN_SECONDS,
                "id_token": state.id_token(state.issuer_of(request), grant),
            },
            headers={"Cache-Control": "no-store"},
        )

    app = Starlette(
        routes=[
            Route("/.well-known/openid-configuration", discovery, methods=["GET"]),
            Route("/jwks", jwks, methods=["GET"]),
            Route("/authorize", authorize, methods=["GET", "POST"]),
            Route("/token", token, methods=["POST"]),
        ]
    )
    app.state.provider = state
    return app


def main(argv: list[str] | None = None) -> None:
    parser = emulator_arguments(
        "Run the inkbridge OpenID Connect provider emulator.", DEFAULT_PORT, database=False
    )
    parser.add_argument("--issuer", default=None, help="default: the URL requests reach")
    parser.add_argument("--client-id", default="inkbridge-console")
    parser.add_argument("--client-secret", default="emulator-client-secret")
    parser.add_argument("--redirect-uri", action="append", default=[])
    parser.add_argument("--sub", default="person-1")
    parser.add_argument("--name", default="Ada Lovelace")
    parser.add_argument("--email", default="ada@example.com")
    parser.add_argument("--group", action="append", default=None, help="repeatable")
    parser.add_argument("--ask", action="store_true", help="a sign-in page, no auto-approval")
    parser.add_argument(
        "--person",
        action="append",
        default=[],
        metavar="EMAIL:SUB:NAME:GROUP,GROUP",
        help="one more person who may sign in at the page (repeatable)",
    )
    args = parser.parse_args(argv)
    person = Person(args.sub, args.name, args.email, args.group or ["revops"])
    people = []
    for spec in args.person:
        email, sub, name, groups = spec.split(":", 3)
        people.append(Person(sub, name, email.lower(), [g for g in groups.split(",") if g]))
    provider = OidcProvider(
        client_id=args.client_id,
        client_secret=args.client_secret,
        issuer=args.issuer,
        redirect_uris=args.redirect_uri,
        person=person,
        ask=args.ask,
        people=people,
    )
    serve(create_app(provider), args)


if __name__ == "__main__":
    main()
