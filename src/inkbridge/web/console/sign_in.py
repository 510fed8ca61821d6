"""Signing in to the console with an API token, and signing out.

The token is posted once, checked (``services.tokens``) and forgotten: the browser gets an
opaque session id in an HttpOnly, SameSite=Strict cookie. The sign-in form is protected against
login CSRF by a one-off value held both in a short-lived cookie and in the form, and by the
``Origin`` check; sign-out is a console POST like any other (session CSRF token).
"""

from __future__ import annotations

import secrets
from html import escape

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from inkbridge.access import declare, public
from inkbridge.services.console_sessions import (
    ConsoleSession,
    SignInRefused,
    close_session,
    sign_in_with_token,
)
from inkbridge.web.console.gate import (
    COOKIE,
    SECURITY_HEADERS,
    SIGN_IN_PATH,
    console_page,
    databases,
    drop_session,
    hold_session,
    html,
    refusal,
    safe_next,
    same_origin,
    session_of,
    set_cookie,
    token_matches,
)
from inkbridge.web.console.html import layout

FORM_COOKIE = "inkbridge_console_sign_in"
FORM_LIFETIME_SECONDS = 900


def _form(request: Request, message: str = "", status: int = 200) -> Response:
    nonce = secrets.token_urlsafe(24)
    target = escape(safe_next(request.query_params.get("next")))
    alert = f'<p class="error" role="alert">{escape(message)}</p>' if message else ""
    sso = ""
    if request.app.state.container.services.console_oidc is not None:
        sso = (
            f'<p><a class="button" href="/console/sign-in/oidc?next={target}">Sign in with SSO'
            "</a></p><p>Or, without the identity provider:</p>"
        )
    body = (
        f"{alert}{sso}<p>Sign in with an API token holding the <code>read</code> scope "
        "(<code>admin</code> for receipts and dead letters). The token is checked once and never "
        "kept by the browser.</p>"
        f'<form method="post" action="{SIGN_IN_PATH}?next={target}">'
        f'<input type="hidden" name="csrf" value="{nonce}">'
        '<p><label for="token">API token</label>'
        '<input id="token" name="token" type="password" autocomplete="off" required '
        'size="50"></p><p><button type="submit">Sign in</button></p></form>'
    )
    answer = html(layout("Sign in", body, None), status)
    set_cookie(
        answer, request, FORM_COOKIE, nonce, path=SIGN_IN_PATH, max_age=FORM_LIFETIME_SECONDS
    )
    return answer


async def sign_in_form(request: Request) -> Response:
    if await session_of(request) is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    return _form(request)


async def sign_in(request: Request) -> Response:
    form = await request.form()
    expected = request.cookies.get(FORM_COOKIE)
    if not same_origin(request) or not expected or not token_matches(form.get("csrf"), expected):
        return refusal(403, "This sign-in form is stale or came from elsewhere. Reload it.")
    token = form.get("token")
    if not isinstance(token, str) or not token.strip() or len(token) > 200:
        return _form(request, "Enter an API token.", 422)
    try:
        opened = await run_in_threadpool(sign_in_with_token, databases(request), token)
    except SignInRefused:
        return _form(request, "That token does not open the console.", 401)
    answer = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    answer.headers.update(SECURITY_HEADERS)
    hold_session(answer, request, opened)
    answer.delete_cookie(FORM_COOKIE, path=SIGN_IN_PATH)
    return answer


@console_page("read")
async def sign_out(request: Request, _session: ConsoleSession) -> Response:
    session_id = request.cookies.get(COOKIE, "")
    await run_in_threadpool(close_session, databases(request), session_id)
    answer = RedirectResponse(SIGN_IN_PATH, status_code=303)
    drop_session(answer, request)
    return answer


declare(sign_in_form, public("the console's sign-in form; it shows no data"))
declare(sign_in, public("the console's sign-in: the posted API token is the credential"))
