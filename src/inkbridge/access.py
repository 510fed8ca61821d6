"""What each HTTP route requires, in a form code and tests can read.

A route either needs a credential holding a scope (a bearer token scope, the sandbox service
credential, or, for the console's pages, a signed-in session) or is public for a stated reason.
Routes declare it where they are defined: the ``require(scope)`` dependency of the API,
``guarded``/``public`` on the sandbox apps' endpoints, ``console_page(scope)`` on the console's,
or ``PUBLIC_ROUTES`` below for routes inkbridge does not write itself (FastAPI's docs). The
route x scope matrix test walks the app with ``route_table`` and fails on a route that declares
nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Mount, Route

ADMIN = "admin"
# The sandbox's own clients (the sandbox provider client and the sandbox CRM connector) hold
# this and nothing else; an admin token holds it too.
SANDBOX_SERVICE = "sandbox:service"
# The data map names database locations, hosts and backup directories: operator knowledge, so
# it needs admin rather than read (read tokens sit in dashboards and reporting jobs).
DATAMAP_SCOPE = ADMIN
# `inkbridge golive` runs the go-live checks against a deployment with a token of this scope
# alone: it may call exactly the routes that declare it as an alternative (``require(scope,
# GOLIVE)``), and erase only the leads of its own test namespace.
GOLIVE = "golive"
ATTRIBUTE = "__inkbridge_access__"
F = TypeVar("F", bound=Callable[..., Any])


BEARER = "bearer"
SESSION = "session"  # the console's session cookie; a bearer token never admits these routes


@dataclass(frozen=True)
class Access:
    """A route's requirement: ``scope`` to hold, or none (public) with the ``reason`` why;
    ``alternatives`` are narrower scopes also admitted (the go-live checks); ``via`` is the
    credential that must carry the scope."""

    scope: str | None
    reason: str = ""
    alternatives: tuple[str, ...] = ()
    via: str = BEARER

    @property
    def public(self) -> bool:
        return self.scope is None


def requires(scope: str, *alternatives: str) -> Access:
    return Access(scope=scope, alternatives=alternatives)


def requires_session(scope: str) -> Access:
    """A console route: a signed-in session holding ``scope``."""
    return Access(scope=scope, via=SESSION)


def public(reason: str) -> Access:
    if not reason.strip():
        raise ValueError("a public route needs a reason")
    return Access(scope=None, reason=reason)


def declare(endpoint: F, access: Access) -> F:
    """Mark ``endpoint`` (a route handler or a dependency) with its requirement."""
    setattr(endpoint, ATTRIBUTE, access)
    return endpoint


def declared(endpoint: object) -> Access | None:
    found = getattr(endpoint, ATTRIBUTE, None)
    return found if isinstance(found, Access) else None


# Routes whose handler is not ours to mark, or that are public by design. Keyed by
# (method, path template); the reason is what the README's security model says.
PUBLIC_ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): "liveness probe; says nothing but ok",
    ("GET", "/readyz"): "readiness probe; region names and an exception class only",
    ("GET", "/metrics"): "Prometheus counters; no personal data",
    ("GET", "/openapi.json"): "the API description",
    ("GET", "/docs"): "the API description, rendered",
    ("GET", "/redoc"): "the API description, rendered",
    ("GET", "/"): "a redirect to the console",
    ("GET", "/docs/assets/{name}"): "the API description pages' scripts and styles",
    ("GET", "/dashboard"): "a redirect to the console (its former address)",
    ("GET", "/capture.js"): "the static capture snippet landing pages load",
    ("GET", "/v1/schemas/standard-webhooks.json"): (
        "the generic connection's payload format for sender authors; a wire format, no data"
    ),
    ("GET", "/v1/webhooks/{connection}"): (
        "a provider's registration check; answered from the provider's own client id"
    ),
    ("POST", "/v1/triggers/{name}"): "inbound CRM triggers, authenticated by their signature",
    ("POST", "/v1/touchpoints"): "the public capture endpoint, for publishable keys",
    ("OPTIONS", "/v1/touchpoints"): "the capture endpoint's CORS preflight, for publishable keys",
    ("GET", "/sign/{opaque}"): "a one-time signer-session link: the opaque token is the credential",
    ("HEAD", "/sign/{opaque}"): "the same link, never spent by a HEAD",
}


@dataclass(frozen=True)
class RouteEntry:
    """One method of one route, with the path it is reached at and what it declares."""

    method: str
    path: str
    access: Access | None


def _dependency_access(route: APIRoute) -> Access | None:
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        found = declared(dependant.call)
        if found is not None:
            return found
        pending.extend(dependant.dependencies)
    return None


def _access_of(route: BaseRoute, endpoint: object, method: str, path: str) -> Access | None:
    reason = PUBLIC_ROUTES.get((method, path))
    if reason is not None:
        return public(reason)
    if isinstance(route, APIRoute):
        found = _dependency_access(route)
        if found is not None:
            return found
    return declared(endpoint)


def _flattened(routes: Sequence[BaseRoute]) -> Iterator[tuple[BaseRoute, str, object]]:
    """(route as written, the path it is served at, its endpoint), with included routers
    expanded (FastAPI keeps them as one lazily resolved entry)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # an older FastAPI copies included routes in place
        for route in routes:
            yield route, str(getattr(route, "path", "")), getattr(route, "endpoint", None)
        return
    for context in iter_route_contexts(routes):
        yield context.original_route, str(context.path), context.endpoint


def route_table(routes: Sequence[BaseRoute], prefix: str = "") -> Iterator[RouteEntry]:
    """Every (method, path) of ``routes``, descending into mounted apps, with its declaration."""
    for route, route_path, endpoint in _flattened(routes):
        if isinstance(route, Mount):
            yield from route_table(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            path = prefix + route_path
            for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
                yield RouteEntry(method, path, _access_of(route, endpoint, method, path))
        else:
            # A websocket or other route kind: nothing inkbridge serves today, so it must not
            # slip through unnoticed either.
            yield RouteEntry("?", prefix + route_path, None)
