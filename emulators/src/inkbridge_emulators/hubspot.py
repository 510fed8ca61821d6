"""A HubSpot emulator: the slice of the CRM, communication-preferences and lists APIs that
``connectors.hubspot`` uses, with HubSpot's auth, batch limits, error bodies and rate limit.

API (``Authorization: Bearer <private-app token | OAuth access token>``; errors as
``{status: "error", category, message, correlationId}``):

- ``POST /oauth/v1/token`` refresh-token grant: a 30-minute access token
- ``POST /crm/v3/objects/{type}/batch/upsert`` and ``…/batch/read`` (at most 100 inputs; per-input
  failures answer 207 with ``errors[]``), ``POST /crm/v3/objects/{type}`` create,
  ``POST /crm/v3/objects/{type}/search`` (EQ / IN / HAS_PROPERTY filters)
- ``POST /crm/v4/associations/{from}/{to}/batch/associate/default``
- ``POST /communication-preferences/v4/statuses/batch/write``
- ``PUT /crm/v3/lists/{listId}/memberships/add``
- ``GET /account-info/v3/details`` (``hubspot_account``)
- ``POST /crm/v3/objects/contacts/gdpr-delete`` (``hubspot_erasure``; ``gdpr_deletes`` in state)

Rate limit: ``rate_limit_per_10s`` requests in any rolling ten seconds (default 100, None for
none; ``--window-seconds`` shortens the window for a test), answered with 429 ``policyName:
"TEN_SECONDLY_ROLLING"``; a daily limit answers ``policyName: "DAILY"``. Every answer but search
carries ``X-HubSpot-RateLimit-Max/-Remaining/-Interval-Milliseconds`` (and ``-Daily``/
``-Daily-Remaining`` for private-app tokens), as HubSpot's do. Like HubSpot, a throttled answer
has no ``Retry-After``: clients read the headers (an injected ``rate_limit`` fault sends one).

Inspection: ``GET /_state`` (objects, tasks, associations, consents, lists, request counters and
the most requests seen in any window), ``GET|POST /_faults``, ``GET|POST /_limits``
``{"rate_limit_per_10s": N|null}``, ``POST /_tokens/expire``, ``DELETE /_all``. ``python -m
inkbridge_emulators.hubspot --port N [--db PATH] [--rate-limit-per-10s N] [--window-seconds S]``.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inkbridge_emulators._crm_common import (
    RecordTable,
    SlidingWindow,
    limit_body,
    now_iso,
    read_json,
    requests_summary,
    route_counter,
)
from inkbridge_emulators.faults import FaultGate
from inkbridge_emulators.hubspot_account import account_details
from inkbridge_emulators.hubspot_erasure import GdprDeletes
from inkbridge_emulators.hubspot_errors import HubSpotRefusal, hubspot_error, injected_failure
from inkbridge_emulators.hubspot_state import HubSpotCrm
from inkbridge_emulators.process import emulator_arguments, serve

MAX_OBJECT_INPUTS = 100
MAX_ASSOCIATION_INPUTS = 2000
MAX_STATUS_INPUTS = 1000
MAX_SEARCH_LIMIT = 200
WINDOW_SECONDS = 10.0
DAY_SECONDS = 86_400.0
ACCESS_TOKEN_SECONDS = 1800

Handler = Callable[[Request], Awaitable[Response]]


class HubSpotEmulator:
    """One emulated HubSpot account: CRM data, auth, rate limits and faults (``app.state``)."""

    def __init__(
        self,
        crm: HubSpotCrm,
        *,
        private_app_tokens: Sequence[str],
        client_id: str,
        client_secret: str,
        refresh_token: str,
        rate_limit_per_10s: int | None,
        daily_limit: int | None,
        access_token_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.crm = crm
        self.private_app_tokens = set(private_app_tokens)
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.access_token_seconds = access_token_seconds
        self.clock = clock
        self.access_tokens: dict[str, float] = {}  # token -> expiry (epoch seconds)
        self.token_exchanges = 0
        self.window = SlidingWindow(rate_limit_per_10s, WINDOW_SECONDS)
        self.daily = SlidingWindow(daily_limit, DAY_SECONDS)
        self.faults = FaultGate(injected_failure, rate_limit_retry_after=1.0)
        self.by_route, self.count_route = route_counter()
        self.gdpr = GdprDeletes(crm)

    def expire_tokens(self) -> None:
        self.access_tokens = dict.fromkeys(self.access_tokens, 0.0)

    def authenticate(self, request: Request) -> tuple[str | None, JSONResponse | None]:
        """(``"private"`` or ``"oauth"``, None) when the bearer token is good, else a 401."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return None, hubspot_error(
                401, "INVALID_AUTHENTICATION", "Authentication credentials not found."
            )
        if any(hmac.compare_digest(token, known) for known in self.private_app_tokens):
            return "private", None
        expiry = self.access_tokens.get(token)
        if expiry is None:
            return None, hubspot_error(
                401, "INVALID_AUTHENTICATION", "The OAuth token used to make this call is invalid."
            )
        if expiry <= self.clock():
            return None, hubspot_error(
                401, "EXPIRED_AUTHENTICATION", "The OAuth token used to make this call expired."
            )
        return "oauth", None

    def rate_headers(self, auth: str | None) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.window.limit is not None:
            headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(self.window.interval_ms)
            headers["X-HubSpot-RateLimit-Max"] = str(self.window.limit)
            headers["X-HubSpot-RateLimit-Remaining"] = str(self.window.remaining())
        # HubSpot leaves the daily headers off OAuth calls: those apps have no daily limit.
        if auth == "private" and self.daily.limit is not None:
            headers["X-HubSpot-RateLimit-Daily"] = str(self.daily.limit)
            headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(self.daily.remaining())
        return headers

    def api(self, name: str, handler: Handler, *, rate_headers: bool = True) -> Handler:
        """Wrap a data-API route: count, inject faults, authenticate, rate-limit, then answer."""

        async def guarded(request: Request) -> Response:
            self.count_route(name)
            wait = self.window.arrive()
            fault = await self.faults.suffer(request, self.window)
            if fault is not None:
                return fault
            auth, refusal = self.authenticate(request)
            if refusal is not None:
                return refusal
            daily_wait = self.daily.arrive() if auth == "private" else None
            headers = self.rate_headers(auth) if rate_headers else {}
            if wait is not None or daily_wait is not None:
                policy = "TEN_SECONDLY_ROLLING" if wait is not None else "DAILY"
                return hubspot_error(
                    429,
                    "RATE_LIMITS",
                    f"You have reached your {policy.lower()} limit.",
                    headers,
                    errorType="RATE_LIMIT",
                    policyName=policy,
                )
            try:
                response = await handler(request)
            except HubSpotRefusal as exc:
                response = hubspot_error(exc.status, exc.category, exc.message)
            except ValueError:
                response = hubspot_error(400, "VALIDATION_ERROR", "Invalid input JSON")
            response.headers.update(headers)
            return response

        return guarded

    def state(self) -> dict[str, Any]:
        return {
            **self.crm.dump(),
            "requests": requests_summary(self.window, self.by_route),
            "max_requests_in_window": self.window.max_seen_in_window,
            "rate_limit_per_10s": self.window.limit,
            "token_exchanges": self.token_exchanges,
            "gdpr_deletes": list(self.gdpr.calls),
        }


def _inputs(body: Any, limit: int) -> list[dict[str, Any]]:
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not inputs:
        raise HubSpotRefusal(400, "VALIDATION_ERROR", "inputs must be a non-empty array")
    if len(inputs) > limit:
        raise HubSpotRefusal(
            400, "VALIDATION_ERROR", f"Batch input size {len(inputs)} exceeds the limit of {limit}"
        )
    if not all(isinstance(item, dict) for item in inputs):
        raise HubSpotRefusal(400, "VALIDATION_ERROR", "every input must be an object")
    return inputs


def _routes(hub: HubSpotEmulator) -> list[Route]:
    crm = hub.crm

    async def token(request: Request) -> Response:
        form = await request.form()
        if form.get("grant_type") != "refresh_token":
            return JSONResponse(
                {"status": "BAD_GRANT_TYPE", "message": "unsupported grant_type"}, 400
            )
        if form.get("client_id") != hub.client_id:
            return JSONResponse(
                {"status": "BAD_CLIENT_ID", "message": "missing or unknown client id"}, 400
            )
        if not hmac.compare_digest(str(form.get("client_secret", "")), hub.client_secret):
            return JSONResponse(
                {"status": "BAD_CLIENT_SECRET", "message": "bad client secret"}, 400
            )
        if not hmac.compare_digest(str(form.get("refresh_token", "")), hub.refresh_token):
            return JSONResponse(
                {"status": "BAD_REFRESH_TOKEN", "message": "missing or unknown refresh token"}, 400
            )
        access = "emu-" + secrets.token_urlsafe(24)
        hub.access_tokens[access] = hub.clock() + hub.access_token_seconds
        hub.token_exchanges += 1
        return JSONResponse(
            {
                "token_type": "bearer",
                "refresh_token": hub.refresh_token,
                "access_token": access,
                "expires_in": hub.access_token_seconds,
            }
        )

    async def upsert(request: Request) -> Response:
        started = now_iso()
        inputs = _inputs(await read_json(request), MAX_OBJECT_INPUTS)
        answer = crm.upsert(request.path_params["object_type"], inputs)
        return JSONResponse(answer.body(started), answer.http_status)

    async def batch_read(request: Request) -> Response:
        started = now_iso()
        body = await read_json(request)
        inputs = _inputs(body, MAX_OBJECT_INPUTS)
        answer = crm.read(
            request.path_params["object_type"],
            body.get("idProperty"),
            [str(item.get("id", "")) for item in inputs],
            [str(p) for p in body.get("properties") or []],
        )
        return JSONResponse(answer.body(started), answer.http_status)

    async def create(request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
            raise HubSpotRefusal(400, "VALIDATION_ERROR", "properties must be an object")
        record = crm.create(
            request.path_params["object_type"], body["properties"], body.get("associations") or []
        )
        return JSONResponse(record, 201)

    async def search(request: Request) -> Response:
        body = await read_json(request)
        body = body if isinstance(body, dict) else {}
        limit = int(body.get("limit") or 10)
        if limit > MAX_SEARCH_LIMIT:
            raise HubSpotRefusal(
                400, "VALIDATION_ERROR", f"limit must be at most {MAX_SEARCH_LIMIT}"
            )
        results = crm.search(
            request.path_params["object_type"], body.get("filterGroups") or [], limit
        )
        return JSONResponse({"total": len(results), "results": results})

    async def associate(request: Request) -> Response:
        started = now_iso()
        inputs = _inputs(await read_json(request), MAX_ASSOCIATION_INPUTS)
        pairs = [
            (str((i.get("from") or {}).get("id", "")), str((i.get("to") or {}).get("id", "")))
            for i in inputs
        ]
        answer = crm.associate(
            request.path_params["from_type"], request.path_params["to_type"], pairs
        )
        return JSONResponse(answer.body(started), answer.http_status)

    async def write_statuses(request: Request) -> Response:
        started = now_iso()
        answer = crm.write_statuses(_inputs(await read_json(request), MAX_STATUS_INPUTS))
        return JSONResponse(answer.body(started), answer.http_status)

    async def add_members(request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, list):
            raise HubSpotRefusal(400, "VALIDATION_ERROR", "body must be an array of record ids")
        added, missing = crm.add_to_list(request.path_params["list_id"], [str(i) for i in body])
        return JSONResponse({"recordIdsAdded": added, "recordIdsMissing": missing})

    async def state(request: Request) -> Response:
        return JSONResponse(hub.state())

    async def limits(request: Request) -> Response:
        if request.method == "POST":
            try:
                hub.window.set_limit(limit_body(await read_json(request), "rate_limit_per_10s"))
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse({"rate_limit_per_10s": hub.window.limit})

    async def expire(request: Request) -> Response:
        hub.expire_tokens()
        return JSONResponse({"expired": len(hub.access_tokens)})

    async def reset(request: Request) -> Response:
        crm.table.reset()
        return JSONResponse({"ok": True})

    objects = "/crm/v3/objects/{object_type}"
    return [
        Route("/oauth/v1/token", token, methods=["POST"]),
        Route("/account-info/v3/details", hub.api("account", account_details), methods=["GET"]),
        Route(
            "/crm/v3/objects/contacts/gdpr-delete",
            hub.api("gdpr_delete", hub.gdpr.endpoint),
            methods=["POST"],
        ),
        Route(f"{objects}/batch/upsert", hub.api("batch_upsert", upsert), methods=["POST"]),
        Route(f"{objects}/batch/read", hub.api("batch_read", batch_read), methods=["POST"]),
        # HubSpot's search endpoints answer without the rate-limit headers.
        Route(f"{objects}/search", hub.api("search", search, rate_headers=False), methods=["POST"]),
        Route(objects, hub.api("create", create), methods=["POST"]),
        Route(
            "/crm/v4/associations/{from_type}/{to_type}/batch/associate/default",
            hub.api("associate", associate),
            methods=["POST"],
        ),
        Route(
            "/communication-preferences/v4/statuses/batch/write",
            hub.api("statuses_write", write_statuses),
            methods=["POST"],
        ),
        Route(
            "/crm/v3/lists/{list_id}/memberships/add",
            hub.api("list_add", add_members),
            methods=["PUT"],
        ),
        Route("/_state", state, methods=["GET"]),
        Route("/_faults", hub.faults.endpoint, methods=["GET", "POST"]),
        Route("/_limits", limits, methods=["GET", "POST"]),
        Route("/_tokens/expire", expire, methods=["POST"]),
        Route("/_all", reset, methods=["DELETE"]),
    ]


def create_hubspot_app(
    db_path: Path | None = None,
    *,
    rate_limit_per_10s: int | None = 100,
    daily_limit: int | None = 500_000,
    private_app_tokens: Sequence[str] = ("pat-emulator",),
    client_id: str = "emulator-client",
    client_secret: str = "emulator-secret",  # noqa: S107 - a test fixture, not a secret
    refresh_token: str = "emulator-refresh",  # noqa: S107 - a test fixture, not a secret
    access_token_seconds: int = ACCESS_TOKEN_SECONDS,
    subscriptions: dict[int, str] | None = None,
    require_legal_basis: bool = True,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The HubSpot emulator as an ASGI app; its state is ``app.state.hubspot``."""
    crm = HubSpotCrm(
        RecordTable(db_path), subscriptions=subscriptions, require_legal_basis=require_legal_basis
    )
    hub = HubSpotEmulator(
        crm,
        private_app_tokens=private_app_tokens,
        client_id=client_id,
        client_secret=client_secret,
        refresh_token=refresh_token,
        rate_limit_per_10s=rate_limit_per_10s,
        daily_limit=daily_limit,
        access_token_seconds=access_token_seconds,
        clock=clock,
    )
    app = Starlette(routes=_routes(hub))
    app.state.hubspot = hub
    return app


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m inkbridge_emulators.hubspot --port N``: the emulator as a process."""
    parser = emulator_arguments("Run the inkbridge HubSpot emulator.", 8110)
    parser.add_argument("--rate-limit-per-10s", type=int, default=100)
    parser.add_argument("--window-seconds", type=float, default=WINDOW_SECONDS)
    parser.add_argument("--private-app-token", default="pat-emulator")
    args = parser.parse_args(argv)
    app = create_hubspot_app(
        args.db,
        rate_limit_per_10s=args.rate_limit_per_10s,
        private_app_tokens=(args.private_app_token,),
    )
    app.state.hubspot.window.window_seconds = args.window_seconds
    serve(app, args)


if __name__ == "__main__":
    main()
