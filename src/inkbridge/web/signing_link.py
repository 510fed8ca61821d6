"""``GET /sign/{opaque}``: the public end of a verified signer session.

Opening the link redeems the session (once: a reused, expired, revoked, unknown or concurrently
redeemed link gets the same plain 410 page, with no detail), binds this browser with a
``__Host-`` cookie and 303-redirects it to the provider's embedded signing URL, which inkbridge
asks for only now and never stores. Every answer is ``no-store`` and ``no-referrer`` (the URL
is the secret) under a CSP that allows nothing.
"""

from __future__ import annotations

from html import escape

import structlog
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from inkbridge.bootstrap import Container
from inkbridge.domain.signer_session import SIGNER_COOKIE, origin_of
from inkbridge.errors import PermanentError, RetryableError
from inkbridge.services.signer_sessions import SIGN_PATH, SessionUnavailable

log = structlog.get_logger(__name__)

# How long the bound browser may keep signing once the link is redeemed.
COOKIE_MAX_AGE_SECONDS = 3600

SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
}


def _page(status: int, title: str, message: str) -> HTMLResponse:
    html = (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n"
        "<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;"
        "padding:0 1rem;line-height:1.5}</style>\n</head>\n"
        f'<body>\n<main>\n<h1>{escape(title)}</h1>\n<p role="alert">{escape(message)}</p>\n'
        "</main>\n</body>\n</html>\n"
    )
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def link_unavailable() -> HTMLResponse:
    return _page(
        410,
        "Signing link unavailable",
        "This signing link cannot be used. Go back to the application and start signing again.",
    )


async def open_signing_link(request: Request) -> Response:
    if request.method != "GET":
        # HEAD (link checkers, previews) must never spend a one-time link.
        return _page(405, "Open this link in a browser", "Open this link in a web browser.")
    container: Container = request.app.state.container
    try:
        redemption = await container.services.signer_sessions.redeem_session(
            request.path_params["opaque"],
            ip=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
        )
    except SessionUnavailable as exc:
        log.info("signer_session_refused", reason=exc.reason)
        return link_unavailable()
    except (RetryableError, PermanentError) as exc:
        log.warning("signer_session_provider_failed", error=type(exc).__name__)
        return _page(
            502,
            "Signing is unavailable",
            "The signing service did not answer. Go back to the application and try again.",
        )
    if origin_of(redemption.provider_url) is None:
        log.warning("signer_session_provider_url_refused", session_id=redemption.session_id)
        return _page(502, "Signing is unavailable", "The signing service answered wrongly.")
    response = RedirectResponse(redemption.provider_url, status_code=303)
    response.headers.update(SECURITY_HEADERS)
    response.set_cookie(
        SIGNER_COOKIE,
        redemption.cookie_value,
        max_age=COOKIE_MAX_AGE_SECONDS,
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )
    return response


ROUTES = [Route(SIGN_PATH + "{opaque}", open_signing_link, methods=["GET", "HEAD"])]
