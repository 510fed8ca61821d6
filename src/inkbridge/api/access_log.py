"""The access log, request ids and HTTP request metrics of every route but the webhook hot path.

``AccessLog`` wraps the application (inside ``IngestFront``, so webhook deliveries never pass
through it: their cost stays their own counter). For each request it:

- takes the caller's ``X-Request-Id`` when it is well formed (1 to 64 letters, digits, ``.``,
  ``_``, ``-``, ``:``), otherwise makes one, binds it to every log line of the request and echoes
  it in the answer's ``X-Request-Id``;
- writes one ``http_request`` line: method, route template, status, duration and request id. The
  route template (``/v1/envelopes/{envelope_id}``), never the path or its query string, which may
  hold an email or a token; requests no route matches are logged as ``_unmatched``;
- counts the request and observes its duration by route template, method and status.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any

import structlog
from starlette.routing import BaseRoute, Match, Route

from inkbridge import metrics
from inkbridge.api.webhooks import ASGIApp, Message, Receive, Scope, Send
from inkbridge.ids import new_id

log = structlog.get_logger("inkbridge.access")

REQUEST_ID_HEADER = b"x-request-id"
WELL_FORMED_ID = re.compile(r"[A-Za-z0-9._:\-]{1,64}")
UNMATCHED = "_unmatched"
# Methods are caller-chosen tokens: any other is counted as OTHER, so labels stay bounded.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def request_id_of(scope: Scope) -> str:
    """The caller's request id when well formed, else a new one."""
    for name, value in scope.get("headers", ()):
        if name.lower() == REQUEST_ID_HEADER:
            given = value.decode("latin-1")
            return given if WELL_FORMED_ID.fullmatch(given) else new_id("req")
    return new_id("req")


def route_template(scope: Scope, root_path: str, routes: Sequence[BaseRoute] = ()) -> str:
    """The template of the route that answered (with the mount path of a mounted app).

    The router notes the route it chose in the scope; plain routes FastAPI dispatches itself
    (``/openapi.json``, the pages) may not be noted, and are found again among ``routes``."""
    route: Any = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    if isinstance(path, str):
        mount = str(scope.get("root_path", ""))[len(root_path) :]
        return mount + path
    for candidate in routes:
        if isinstance(candidate, Route) and candidate.matches(scope)[0] is not Match.NONE:
            return candidate.path
    return UNMATCHED


class AccessLog:
    """The ASGI middleware (see the module docstring)."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute] = ()) -> None:
        self.app = app
        self.routes = routes  # the application's own, to name routes the router did not note

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(scope)
        root_path = str(scope.get("root_path", ""))
        status = 500  # unless an answer starts: an exception escaped the application

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [
                    (name, value)
                    for name, value in message.get("headers", ())
                    if name.lower() != REQUEST_ID_HEADER
                ]
                headers.append((REQUEST_ID_HEADER, request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                elapsed = time.perf_counter() - started
                route = route_template(scope, root_path, self.routes)
                method = str(scope.get("method", ""))
                method = method if method in METHODS else "OTHER"
                metrics.HTTP_REQUESTS.labels(route, method, str(status)).inc()
                metrics.HTTP_SECONDS.labels(route, method).observe(elapsed)
                log.info(
                    "http_request",
                    request_id=request_id,
                    method=method,
                    route=route,
                    status=status,
                    duration_ms=round(elapsed * 1000, 2),
                )
