"""The console's gate: who a request's session cookie belongs to, the CSRF checks of every POST
(the session's synchronizer token, and an ``Origin`` of this very site), and ``console_page``,
which wraps a page handler with both and declares its requirement for the route x scope matrix.

The cookie holds an opaque session id only: HttpOnly, SameSite=Strict, Secure when the console
is reached over HTTPS. No bearer token ever reaches the browser's storage.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from inkbridge.access import declare, requires_session
from inkbridge.services.console_sessions import ConsoleSession, OpenedSession, current_session
from inkbridge.store.database import Databases
from inkbridge.web.console.html import layout

COOKIE = "inkbridge_console"
SIGN_IN_PATH = "/console/sign-in"
MAX_COOKIE = 100  # a session id is 43 characters: anything longer is not one
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}

Handler = Callable[[Request, ConsoleSession], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def databases(request: Request) -> Databases:
    found: Databases = request.app.state.container.databases
    return found


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(
    answer: Response,
    request: Request,
    name: str,
    value: str,
    *,
    path: str,
    max_age: int,
    samesite: Literal["lax", "strict"] = "strict",
) -> None:
    """Every cookie the console sets: HttpOnly, and Secure when the console is reached over
    HTTPS."""
    answer.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        secure=is_https(request),
        samesite=samesite,
    )


def hold_session(answer: Response, request: Request, opened: OpenedSession) -> None:
    """Hand the browser its session cookie, which expires with the session, whichever way it
    signed in."""
    lifetime = max(int((opened.session.expires_at - datetime.now(UTC)).total_seconds()), 1)
    set_cookie(answer, request, COOKIE, opened.session_id, path="/console", max_age=lifetime)


def drop_session(answer: Response, request: Request) -> None:
    answer.delete_cookie(
        COOKIE, path="/console", httponly=True, secure=is_https(request), samesite="strict"
    )


def html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


def refusal(status: int, message: str, session: ConsoleSession | None = None) -> HTMLResponse:
    body = f'<p class="error" role="alert">{message}</p>'
    if session is None:
        body += f'<p><a href="{SIGN_IN_PATH}">Sign in</a></p>'
    title = {401: "Sign in first", 403: "Not allowed"}.get(status, "Refused")
    return html(layout(title, body, session), status)


def same_origin(request: Request) -> bool:
    """The POST comes from a page of this site: its ``Origin`` (or, from an older browser, its
    ``Referer``) names this scheme, host and port. Neither header: refused (fail closed)."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if not claimed or claimed == "null":
        return False
    parts = urlsplit(claimed)
    return (parts.scheme, parts.netloc) == (request.url.scheme, request.url.netloc)


def token_matches(offered: object, expected: str) -> bool:
    return isinstance(offered, str) and secrets.compare_digest(offered, expected)


async def session_of(request: Request) -> ConsoleSession | None:
    session_id = request.cookies.get(COOKIE)
    if not session_id or len(session_id) > MAX_COOKIE:
        return None
    return await run_in_threadpool(current_session, databases(request), session_id)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console path only, never another site."""
    if target and target.startswith("/console") and "//" not in target and "\\" not in target:
        return target
    return "/console"


def console_page(scope: str) -> Callable[[Handler], Endpoint]:
    """A console endpoint: a signed-in session holding ``scope``; for a POST also this site's
    ``Origin`` and the session's CSRF token in the form's ``csrf`` field."""

    def wrap(handler: Handler) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            session = await session_of(request)
            if session is None:
                if request.method == "GET":
                    back = quote(safe_next(request.url.path), safe="/")
                    return RedirectResponse(f"{SIGN_IN_PATH}?next={back}", status_code=303)
                return refusal(401, "Your console session has ended. Sign in again.")
            if request.method == "POST":
                form = await request.form()
                if not same_origin(request) or not token_matches(
                    form.get("csrf"), session.csrf_token
                ):
                    return refusal(403, "This form is stale or came from elsewhere.", session)
            if not session.allows(scope):
                return refusal(403, f"This page needs the {scope!r} scope.", session)
            answer = await handler(request, session)
            answer.headers.update(SECURITY_HEADERS)
            return answer

        endpoint.__name__ = handler.__name__
        endpoint.__doc__ = handler.__doc__
        return declare(endpoint, requires_session(scope))

    return wrap
