"""A Pipedrive emulator: the slice of API v2 that ``PipedriveConnector`` uses, with Pipedrive's
rate limits, error shapes and quirks.

API (``x-api-token: <token>`` header, ``?api_token=`` or ``Authorization: Bearer <oauth token>``):

- ``GET /api/v2/deals/search?term=&fields=custom_fields&exact_match=true``, ``GET|PATCH
  /api/v2/deals/{id}``, ``POST /api/v2/deals`` (``title`` required; ``custom_fields`` merged)
- ``GET /api/v2/persons/search?term=&fields=email&exact_match=true``, ``GET|PATCH
  /api/v2/persons/{id}``, ``POST /api/v2/persons`` (``name`` required), ``DELETE
  /api/v2/persons/{id}`` (``{"id"}``; 404 once gone; ``deletes`` in state)
- ``POST /api/v2/activities``, ``GET /api/v2/activities?deal_id=|person_id=``

Answers are ``{"success": true, "data": ...}``; errors ``{"success": false, "error",
"errorCode"}``. Quirks kept: search is eventually consistent (``search_lag_seconds`` hides new
records from search, never from reads by id); ``marketing_status`` changes that Pipedrive forbids
(re-subscribing someone who unsubscribed) are ignored silently, the answer shows the old value.

Limits: a burst window of 2 s (``burst_per_2s``, 20 for an Essential api_token), a tighter one for
search (10 per 2 s) and a daily token budget spent per call (GET by id 2, list 20, write 10,
search 40). Every answer carries ``x-ratelimit-limit``, ``x-ratelimit-remaining``,
``x-ratelimit-reset`` and ``x-daily-requests-left``; a burst 429 has no ``Retry-After`` (the
reset header says when), a spent budget answers 429 with ``Retry-After`` until UTC midnight.

Test control: ``GET|POST /_faults``, ``GET /_state`` (deals, persons, activities, request counts,
limits), ``DELETE /_state``.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inkbridge_emulators._marketing_common import (
    DocumentStore,
    control_routes,
    read_json,
    seconds_until_utc_midnight,
)
from inkbridge_emulators.faults import FaultGate
from inkbridge_emulators.pipedrive_state import (
    DEFAULT_API_TOKEN,
    TOKEN_COSTS,
    PipedriveEmulator,
    PipedriveLimits,
    PipedriveRefusal,
    public,
)
from inkbridge_emulators.process import emulator_arguments, serve

__all__ = ["DEFAULT_API_TOKEN", "PipedriveEmulator", "PipedriveLimits", "create_pipedrive_app"]

Handler = Callable[[Request], Awaitable[Response]]


def _error(status: int, error: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"success": False, "error": error, "errorCode": status, "data": None}
    return JSONResponse(body, status_code=status, headers=headers)


def injected_failure(mode: str, retry_after: float | None) -> Response:
    """An injected fault in Pipedrive's error format."""
    after = None if retry_after is None else {"Retry-After": str(math.ceil(retry_after))}
    if mode == "timeout":
        return _error(504, "Gateway timeout")
    if mode == "error500":
        return _error(500, "Internal server error")
    if mode == "down":
        return _error(503, "Service unavailable", after)
    return _error(429, "Request over limit", after)


def _guarded(emulator: PipedriveEmulator, handler: Handler, cost: str) -> Handler:
    """Faults, auth and rate limits around one route, as Pipedrive applies them."""

    async def guarded(request: Request) -> Response:
        emulator.traffic.count(request)
        injected = await emulator.faults.suffer(request, emulator.traffic)
        if injected is not None:
            return injected
        if not emulator.authorised(request):
            emulator.unauthorized_total += 1
            return _error(401, "unauthorized access")
        burst_wait = emulator.burst.arrive()
        search_wait = emulator.search_burst.arrive() if cost == "search" else None
        if burst_wait is not None or search_wait is not None:
            return _error(429, "Request over limit", emulator.rate_headers())
        if not emulator.budget.spend(TOKEN_COSTS[cost]):
            headers = emulator.rate_headers()
            headers["Retry-After"] = str(math.ceil(seconds_until_utc_midnight()))
            return _error(429, "Daily token budget exhausted", headers)
        try:
            response = await handler(request)
        except PipedriveRefusal as exc:
            response = _error(exc.status, exc.error)
        response.headers.update(emulator.rate_headers())
        return response

    return guarded


def _ok(data: Any, status: int = 200, **extra: Any) -> JSONResponse:
    return JSONResponse({"success": True, "data": data, **extra}, status_code=status)


async def _object_body(request: Request) -> dict[str, Any]:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise PipedriveRefusal(400, "Request body must be a JSON object")
    return body


def _int_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise PipedriveRefusal(400, f"Validation failed: {name}: must be an integer") from None


def _search_term(request: Request) -> tuple[str, bool]:
    term = request.query_params.get("term", "").strip().lower()
    exact = request.query_params.get("exact_match", "false").lower() in {"true", "1"}
    if len(term) < (1 if exact else 2):
        raise PipedriveRefusal(400, "Validation failed: term: too short")
    return term, exact


Document = dict[str, Any]


def _searches(find: Callable[[str, bool], list[Document]]) -> Handler:
    """``GET …/search?term=…``: the items that match, on one page."""

    async def search(request: Request) -> Response:
        term, exact = _search_term(request)
        return _ok({"items": find(term, exact)}, additional_data={"next_cursor": None})

    return search


def _creates(make: Callable[[Document], Document]) -> Handler:
    """``POST``: a record made from the body, answered 201."""

    async def create(request: Request) -> Response:
        return _ok(make(await _object_body(request)), 201)

    return create


def _updates(change: Callable[[int, Document], Document], id_param: str) -> Handler:
    """``PATCH …/{id}``: the record changed by the body."""

    async def update(request: Request) -> Response:
        body = await _object_body(request)
        return _ok(change(request.path_params[id_param], body))

    return update


def _routes(emulator: PipedriveEmulator) -> Sequence[Route]:
    def reads(kind: str, id_param: str) -> Handler:
        async def read(request: Request) -> Response:
            return _ok(public(emulator.record(kind, request.path_params[id_param])))

        return read

    async def delete_person(request: Request) -> Response:
        return _ok(emulator.delete_person(request.path_params["person_id"]))

    async def list_activities(request: Request) -> Response:
        found = emulator.list_activities(
            _int_param(request, "deal_id"), _int_param(request, "person_id")
        )
        return _ok(found, additional_data={"next_cursor": None})

    def api(method: str, path: str, handler: Handler, cost: str) -> Route:
        return Route(f"/api/v2/{path}", _guarded(emulator, handler, cost), methods=[method])

    async def current_user(_request: Request) -> Response:
        return _ok({"id": 1, "name": "Emulated user", "company_id": 1, "active_flag": True})

    return [
        Route("/api/v1/users/me", _guarded(emulator, current_user, "get"), methods=["GET"]),
        api("GET", "deals/search", _searches(emulator.search_deals), "search"),
        api("POST", "deals", _creates(emulator.create_deal), "write"),
        api("GET", "deals/{deal_id:int}", reads("deal", "deal_id"), "get"),
        api("PATCH", "deals/{deal_id:int}", _updates(emulator.update_deal, "deal_id"), "write"),
        api("GET", "persons/search", _searches(emulator.search_persons), "search"),
        api("POST", "persons", _creates(emulator.create_person), "write"),
        api("GET", "persons/{person_id:int}", reads("person", "person_id"), "get"),
        api(
            "PATCH",
            "persons/{person_id:int}",
            _updates(emulator.update_person, "person_id"),
            "write",
        ),
        api("DELETE", "persons/{person_id:int}", delete_person, "write"),
        api("POST", "activities", _creates(emulator.create_activity), "write"),
        api("GET", "activities", list_activities, "list"),
        *control_routes(emulator),
    ]


def create_pipedrive_app(
    db_path: Path | None = None,
    *,
    api_token: str | None = DEFAULT_API_TOKEN,
    access_token: str | None = None,
    limits: PipedriveLimits | None = None,
) -> Starlette:
    """The Pipedrive emulator as an ASGI app; its state is ``app.state.emulator``."""
    emulator = PipedriveEmulator(
        DocumentStore(db_path),
        FaultGate(injected_failure, rate_limit_retry_after=2.0),
        api_token=api_token,
        access_token=access_token,
        limits=limits,
    )
    app = Starlette(routes=list(_routes(emulator)))
    app.state.emulator = emulator
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = emulator_arguments("Run the inkbridge Pipedrive emulator.", 8110)
    parser.add_argument("--api-token", default=DEFAULT_API_TOKEN)
    parser.add_argument("--burst-per-2s", type=int, default=20)
    parser.add_argument("--daily-token-budget", type=int, default=30_000)
    args = parser.parse_args(argv)
    limits = PipedriveLimits(
        burst_per_2s=args.burst_per_2s, daily_token_budget=args.daily_token_budget
    )
    serve(create_pipedrive_app(args.db, api_token=args.api_token, limits=limits), args)


if __name__ == "__main__":
    main()
