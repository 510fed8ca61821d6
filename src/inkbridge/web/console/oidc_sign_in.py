"""Signing in to the console through the configured OpenID Connect provider (single sign-on).

``/console/sign-in/oidc`` sends the browser to the provider; the provider sends it back to
``/console/oidc/callback``, where ``services.console_oidc`` checks the answer and opens the
session. Between the two, the flow's state, nonce and PKCE verifier sit in an HttpOnly cookie
scoped to the callback. That cookie is SameSite=Lax because the way back is a top-level
navigation from the provider's site, which a Strict cookie would not accompany; for the same
reason the callback answers with a page that moves on to the console, rather than a redirect,
so the browser sends the Strict session cookie on a navigation from this very site.
"""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from inkbridge.access import declare, public
from inkbridge.services.console_oidc import CALLBACK_PATH, OidcRefused, OidcSignIn, PendingSignIn
from inkbridge.web.console.gate import (
    SECURITY_HEADERS,
    hold_session,
    html,
    refusal,
    safe_next,
    set_cookie,
)
from inkbridge.web.console.html import layout

START_PATH = "/console/sign-in/oidc"
FLOW_COOKIE = "inkbridge_console_oidc"
FLOW_LIFETIME_SECONDS = 600


def single_sign_on(request: Request) -> OidcSignIn | None:
    found: OidcSignIn | None = request.app.state.container.services.console_oidc
    return found


def _refused(request: Request, problem: OidcRefused) -> Response:
    answer = refusal(problem.status, escape(problem.reason))
    answer.delete_cookie(FLOW_COOKIE, path=CALLBACK_PATH)
    return answer


async def start_sign_in(request: Request) -> Response:
    oidc = single_sign_on(request)
    if oidc is None:
        return refusal(404, "Single sign-on is not configured here.")
    try:
        url, pending = await oidc.start(safe_next(request.query_params.get("next")))
    except OidcRefused as problem:
        return _refused(request, problem)
    answer = RedirectResponse(url, status_code=303)
    answer.headers.update(SECURITY_HEADERS)
    set_cookie(
        answer,
        request,
        FLOW_COOKIE,
        pending.encode(),
        path=CALLBACK_PATH,
        max_age=FLOW_LIFETIME_SECONDS,
        samesite="lax",
    )
    return answer


async def callback(request: Request) -> Response:
    oidc = single_sign_on(request)
    if oidc is None:
        return refusal(404, "Single sign-on is not configured here.")
    pending = PendingSignIn.decode(request.cookies.get(FLOW_COOKIE))
    try:
        opened = await oidc.finish(pending, dict(request.query_params))
    except OidcRefused as problem:
        return _refused(request, problem)
    target = escape(pending.next_path if pending is not None else "/console")
    body = (
        f'<p>Signed in as {escape(opened.session.name)}. <a href="{target}">Continue to the '
        "console</a>.</p>"
    )
    page = layout("Signed in", body, None).replace(
        "<head>", f'<head><meta http-equiv="refresh" content="0;url={target}">', 1
    )
    answer = html(page)
    hold_session(answer, request, opened)
    answer.delete_cookie(FLOW_COOKIE, path=CALLBACK_PATH)
    return answer


declare(
    start_sign_in,
    public("starts single sign-on: a redirect to the identity provider, it shows no data"),
)
declare(
    callback,
    public("single sign-on's return: the provider's code, checked against the flow's state"),
)
