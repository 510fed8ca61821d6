"""A Marketo emulator: the identity endpoint and the slice of the REST API that
``MarketoConnector`` uses, with Marketo's limits and its habit of reporting errors inside 200s.

API:

- ``GET|POST /identity/oauth/token?grant_type=client_credentials&client_id=&client_secret=``
  (query or form body) answers ``{access_token, token_type, expires_in, scope}``; bad
  credentials are an HTTP 401 ``{"error": "invalid_client"}``. Not counted against limits.
- ``POST /rest/v1/leads.json`` ``{action, lookupField, input[]}`` (at most 300); ``GET
  /rest/v1/leads.json?filterType=&filterValues=&fields=`` (also as ``POST ?_method=GET`` with a
  form body, Marketo's way round its 8 KB URI limit, past which it answers HTTP 414)
- ``POST /rest/v1/leads/delete.json`` ``{input: [{id}]}`` (at most 300): ``deleted``, or
  ``skipped`` 1004 for a lead it does not have (``deletes`` in state)
- ``POST /rest/v1/lists/{id}/leads.json`` ``{input: [{id}]}``; ``POST
  /rest/v1/campaigns/{id}/trigger.json`` ``{input: {leads: [{id}], tokens: []}}`` (100 leads)

Every REST answer is HTTP 200 ``{requestId, success, result}``; failures are ``success: false``
with ``errors: [{code, message}]`` (codes are strings): 600/601/602 token missing/invalid/expired
(``Authorization: Bearer`` only: the ``access_token`` query parameter is retired), 606 over 100
calls in 20 s, 607 daily quota, 615 more than 10 calls at once, 1003 bad input, 1013 unknown list
or campaign. Per-record problems are ``status: skipped`` with ``reasons``.

Test control: ``GET|POST /_faults`` (``rate_limit`` answers 606), ``POST /_errors`` ``{code,
count}`` forces response-level codes, ``POST /_expire_tokens``, ``GET|DELETE /_state``.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inkbridge_emulators._marketing_common import (
    DocumentStore,
    bearer_token,
    control_routes,
    read_json,
    read_params,
    token_expiry_route,
)
from inkbridge_emulators.faults import FaultGate
from inkbridge_emulators.marketo_state import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    MarketoEmulator,
    MarketoError,
    MarketoLimits,
)
from inkbridge_emulators.process import emulator_arguments, serve

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "MarketoEmulator",
    "MarketoLimits",
    "create_marketo_app",
]

MAX_URI_BYTES = 8192
Handler = Callable[[Request], Awaitable[Response]]


def _request_id() -> str:
    return f"{secrets.token_hex(2)}#{secrets.token_hex(6)}"


def _success(result: Any) -> JSONResponse:
    return JSONResponse({"requestId": _request_id(), "result": result, "success": True})


def _failure(code: str, message: str) -> JSONResponse:
    errors = [{"code": code, "message": message}]
    return JSONResponse({"requestId": _request_id(), "success": False, "errors": errors})


def injected_failure(mode: str, retry_after: float | None) -> Response:
    """An injected fault as Marketo answers it (rate limits and timeouts inside an HTTP 200)."""
    if mode == "timeout":
        return _failure("604", "Request timed out")
    if mode == "error500":
        return JSONResponse({"error": "Internal Server Error"}, status_code=500)
    if mode == "down":
        return JSONResponse({"error": "Service Unavailable"}, status_code=503)
    return _failure("606", "Max rate limit '100' exceeded with in '20' secs")


def _guarded(emulator: MarketoEmulator, handler: Handler) -> Handler:
    """Faults, the token check and Marketo's three limits around one REST route."""

    async def guarded(request: Request) -> Response:
        emulator.traffic.count(request)
        injected = await emulator.faults.suffer(request, emulator.traffic)
        if injected is not None:
            return injected
        with emulator.concurrency.slot() as admitted:
            try:
                emulator.check_token(bearer_token(request))
                forced = emulator.forced.take()
                if forced is not None:
                    raise MarketoError(forced, f"Forced error {forced}")
                if not admitted:
                    raise MarketoError("615", "Concurrent access limit reached")
                if emulator.window.arrive() is not None:
                    limit = emulator.window.limit
                    raise MarketoError(
                        "606", f"Max rate limit '{limit}' exceeded with in '20' secs"
                    )
                if not emulator.quota.spend():
                    raise MarketoError("607", "Daily quota reached")
                return await handler(request)
            except MarketoError as exc:
                return _failure(exc.code, exc.message)

    return guarded


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise MarketoError("609", "Invalid JSON")
    return body


def _csv(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _lead_ids(items: Any) -> list[Any]:
    if not isinstance(items, list):
        raise MarketoError("1003", "input must be a list")
    return [item.get("id") for item in items if isinstance(item, dict)]


def _routes(emulator: MarketoEmulator) -> Sequence[Route]:
    async def token(request: Request) -> Response:
        params = await read_params(request)
        if params.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        try:
            issued = emulator.issue_token(params.get("client_id"), params.get("client_secret"))
        except PermissionError:
            body = {"error": "invalid_client", "error_description": "Bad client credentials"}
            return JSONResponse(body, status_code=401)
        return JSONResponse(issued)

    async def read(params: dict[str, str]) -> Response:
        found = emulator.read_leads(
            params.get("filterType", ""),
            _csv(params.get("filterValues")),
            _csv(params.get("fields")),
        )
        return _success(found)

    async def leads(request: Request) -> Response:
        if request.method == "GET":
            if len(str(request.url).encode()) > MAX_URI_BYTES:
                return Response("Request-URI Too Long", status_code=414)
            return await read(dict(request.query_params))
        if request.query_params.get("_method") == "GET":
            return await read(await read_params(request))
        body = _object(await read_json(request))
        records = body.get("input")
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise MarketoError("1003", "input must be a list of records")
        result = await emulator.upsert_leads(
            str(body.get("action") or "createOrUpdate"),
            str(body.get("lookupField") or "email"),
            records,
        )
        return _success(result)

    async def delete(request: Request) -> Response:
        body = _object(await read_json(request))
        return _success(emulator.delete_leads(_lead_ids(body.get("input"))))

    async def list_add(request: Request) -> Response:
        body = _object(await read_json(request))
        result = emulator.add_to_list(request.path_params["list_id"], _lead_ids(body.get("input")))
        return _success(result)

    async def campaign_trigger(request: Request) -> Response:
        body = _object(await read_json(request))
        payload = body.get("input")
        leads_in = payload.get("leads") if isinstance(payload, dict) else None
        campaign_id = request.path_params["campaign_id"]
        emulator.trigger_campaign(campaign_id, _lead_ids(leads_in))
        return _success([{"id": campaign_id}])

    async def errors(request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict) or not body.get("code"):
            return JSONResponse({"error": "body must be {code, count}"}, status_code=400)
        emulator.forced.code = str(body["code"])
        emulator.forced.remaining = int(body.get("count") or 1)
        return JSONResponse({"code": emulator.forced.code, "count": emulator.forced.remaining})

    def guard(handler: Handler) -> Handler:
        return _guarded(emulator, handler)

    return [
        Route("/identity/oauth/token", token, methods=["GET", "POST"]),
        Route("/rest/v1/leads.json", guard(leads), methods=["GET", "POST"]),
        Route("/rest/v1/leads/delete.json", guard(delete), methods=["POST"]),
        Route("/rest/v1/lists/{list_id:int}/leads.json", guard(list_add), methods=["POST"]),
        Route(
            "/rest/v1/campaigns/{campaign_id:int}/trigger.json",
            guard(campaign_trigger),
            methods=["POST"],
        ),
        Route("/_errors", errors, methods=["POST"]),
        *control_routes(emulator),
        token_expiry_route(emulator),
    ]


def create_marketo_app(
    db_path: Path | None = None,
    *,
    client_id: str = DEFAULT_CLIENT_ID,
    client_secret: str = DEFAULT_CLIENT_SECRET,
    limits: MarketoLimits | None = None,
    **settings: Any,
) -> Starlette:
    """The Marketo emulator as an ASGI app; its state is ``app.state.emulator``. ``settings``
    are ``MarketoEmulator`` fields (custom_fields, lists, campaigns, token_ttl, write_delay)."""
    emulator = MarketoEmulator(
        DocumentStore(db_path),
        FaultGate(injected_failure),
        client_id=client_id,
        client_secret=client_secret,
        limits=limits or MarketoLimits(),
        **settings,
    )
    app = Starlette(routes=list(_routes(emulator)))
    app.state.emulator = emulator
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = emulator_arguments("Run the inkbridge Marketo emulator.", 8111)
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    parser.add_argument("--calls-per-20s", type=int, default=100)
    parser.add_argument("--daily-quota", type=int, default=50_000)
    args = parser.parse_args(argv)
    limits = MarketoLimits(calls_per_20s=args.calls_per_20s, daily_quota=args.daily_quota)
    app = create_marketo_app(
        args.db, client_id=args.client_id, client_secret=args.client_secret, limits=limits
    )
    serve(app, args)


if __name__ == "__main__":
    main()
