"""A Dynamics 365 / Dataverse emulator: an Entra ID token endpoint and the slice of the Web API
v9.2 that ``connectors.dynamics`` uses, with Dataverse's error bodies and service protection.

- ``POST /{tenant}/oauth2/v2.0/token`` client credentials, ``scope`` ``{resource}/.default``
  (the resource defaults to this emulator's own URL); answers ``expires_in`` 3599
- ``POST /api/data/v9.2/$batch`` multipart/mixed with change sets, at most 1,000 requests;
  ``Prefer: odata.continue-on-error`` honoured
- ``PATCH /api/data/v9.2/{set}({key}='{value}')`` upsert by alternate key (also inside batches)
- ``GET /api/data/v9.2/{set}?$select=…&$filter=k eq 'a' or k eq 'b'``
- ``DELETE /api/data/v9.2/{set}({key}='{value}')`` (``dynamics_erasure``; ``deletes`` in state)

Errors are ``{"error": {"code": "0x…", "message"}}``. Service protection: at most
``rate_limit`` requests (default 6,000) in any 300 seconds, then 429 with ``Retry-After``; each
answer carries ``x-ms-ratelimit-burst-remaining-xrm-requests``. A ``$batch`` counts as one
request unless ``count_batch_operations`` (Microsoft's documentation is not explicit).

Inspection: ``GET /_state`` (rows by table, tasks, consent flags, request counters and the most
requests seen in any window), ``GET|POST /_faults``, ``GET|POST /_limits``
``{"rate_limit": N|null}``, ``POST /_tokens/expire``, ``DELETE /_all``.
``python -m inkbridge_emulators.dynamics --port N [--db PATH] [--rate-limit N]``.
"""

from __future__ import annotations

import hmac
import math
import secrets
import time
from collections.abc import Callable, Sequence
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
    read_json,
    requests_summary,
    route_counter,
    seconds_header,
)
from inkbridge_emulators.dynamics_erasure import RowDeletes
from inkbridge_emulators.dynamics_state import Dataverse, DataverseError
from inkbridge_emulators.faults import FaultGate
from inkbridge_emulators.process import emulator_arguments, serve

WINDOW_SECONDS = 300.0
DEFAULT_RATE_LIMIT = 6000
TOKEN_SECONDS = 3599
# Dataverse reports the execution time left in the window too; the emulator does not model it.
TIME_REMAINING = "1200.00"


def dv_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers=headers)


def _injected(mode: str, retry_after: float | None) -> Response:
    after = None if retry_after is None else {"Retry-After": seconds_header(retry_after)}
    if mode == "rate_limit":
        message = "Number of requests exceeded the limit of 6000 over time window of 300 seconds."
        return dv_error(429, "0x80072322", message, after)
    if mode == "timeout":
        return dv_error(504, "0x80040224", "The request timed out.")
    if mode == "down":
        return dv_error(503, "0x8005f103", "The service is unavailable.", after)
    return dv_error(500, "0x80040216", "An unexpected error occurred.")


def _aad_error(status: int, error: str, code: int, description: str) -> JSONResponse:
    body = {
        "error": error,
        "error_description": f"AADSTS{code}: {description}",
        "error_codes": [code],
    }
    return JSONResponse(body, status)


WHO_AM_I = {
    "BusinessUnitId": "5e3a1f0c-0000-4000-8000-000000000001",
    "UserId": "5e3a1f0c-0000-4000-8000-000000000002",
    "OrganizationId": "5e3a1f0c-0000-4000-8000-000000000003",
}


class DynamicsEmulator:
    """One emulated environment: Dataverse rows, the app registration, limits and faults."""

    def __init__(
        self,
        dataverse: Dataverse,
        *,
        tenant_id: str,
        client_id: str,
        client_secret: str,
        resource: str | None,
        rate_limit: int | None,
        count_batch_operations: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.dataverse = dataverse
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.resource = resource
        self.count_batch_operations = count_batch_operations
        self.clock = clock
        self.tokens: dict[str, float] = {}
        self.token_exchanges = 0
        self.batches = 0
        self.batch_operations = 0
        self.window = SlidingWindow(rate_limit, WINDOW_SECONDS)
        self.faults = FaultGate(_injected, rate_limit_retry_after=1.0)
        self.by_route, self.count_route = route_counter()
        self.deletes = RowDeletes(dataverse)

    def expire_tokens(self) -> None:
        self.tokens = dict.fromkeys(self.tokens, 0.0)

    def limit_headers(self) -> dict[str, str]:
        remaining = self.window.remaining()
        if remaining is None:
            return {}
        return {
            "x-ms-ratelimit-burst-remaining-xrm-requests": str(remaining),
            "x-ms-ratelimit-time-remaining-xrm-requests": TIME_REMAINING,
        }

    def state(self) -> dict[str, Any]:
        return {
            **self.dataverse.dump(),
            "requests": requests_summary(self.window, self.by_route),
            "max_requests_in_window": self.window.max_seen_in_window,
            "rate_limit": self.window.limit,
            "batches": self.batches,
            "batch_operations": self.batch_operations,
            "token_exchanges": self.token_exchanges,
            "deletes": list(self.deletes.calls),
        }

    async def api(self, request: Request) -> Response:
        """Everything under ``/api/data/v9.2``: count, inject faults, authenticate, throttle."""
        path = request.path_params["path"]
        name = "batch" if path == "$batch" else request.method.lower()
        self.count_route(name)
        wait = self.window.arrive()
        fault = await self.faults.suffer(request, self.window)
        if fault is not None:
            return fault
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        expiry = self.tokens.get(token) if scheme.lower() == "bearer" else None
        if expiry is None or expiry <= self.clock():
            # Dataverse answers an expired or foreign token with an empty 401.
            challenge = 'Bearer error="invalid_token", error_description="token expired"'
            return Response(status_code=401, headers={"WWW-Authenticate": challenge})
        if wait is not None:
            message = (
                f"Number of requests exceeded the limit of {self.window.limit} over time window "
                f"of {int(WINDOW_SECONDS)} seconds."
            )
            after = {"Retry-After": str(max(1, math.ceil(wait)))}
            return dv_error(429, "0x80072322", message, {**after, **self.limit_headers()})
        base = str(request.base_url).rstrip("/")
        try:
            response = await self._dispatch(request, path, base)
        except DataverseError as exc:
            response = dv_error(exc.status, exc.code, exc.message)
        except ValueError:
            response = dv_error(400, "0x80040203", "The request body is not valid JSON.")
        response.headers.update(self.limit_headers())
        return response

    async def _dispatch(self, request: Request, path: str, base: str) -> Response:
        if path == "$batch" and request.method == "POST":
            prefer = request.headers.get("prefer", "")
            answer = self.dataverse.batch(
                request.headers.get("content-type", ""),
                await request.body(),
                "odata.continue-on-error" in prefer,
                base,
            )
            self.batches += 1
            self.batch_operations += answer.operations
            if self.count_batch_operations:
                for _ in range(answer.operations - 1):
                    self.window.arrive()
            return Response(answer.body, 200, media_type=answer.content_type)
        if request.method == "PATCH":
            headers = {k.lower(): v for k, v in request.headers.items()}
            result = self.dataverse.upsert(path, await read_json(request), headers, base)
            return Response(status_code=result.status, headers=result.headers)
        if request.method == "GET" and path == "WhoAmI":
            # The WhoAmI function: who the application user behind the token is.
            return JSONResponse(
                {
                    "@odata.context": f"{base}/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM"
                    ".WhoAmIResponse",
                    **WHO_AM_I,
                }
            )
        if request.method == "GET":
            rows = self.dataverse.query(
                path, request.query_params.get("$select"), request.query_params.get("$filter")
            )
            return JSONResponse(
                {"@odata.context": f"{base}/api/data/v9.2/$metadata#{path}", "value": rows}
            )
        if request.method == "DELETE":
            result = self.deletes.delete(path)
            return Response(status_code=result.status)
        raise DataverseError(405, "0x80060888", "The method is not emulated.")


def _routes(dyn: DynamicsEmulator) -> list[Route]:
    dataverse = dyn.dataverse

    async def token(request: Request) -> Response:
        form = await request.form()
        if request.path_params["tenant"] != dyn.tenant_id:
            return _aad_error(400, "invalid_request", 90002, "Tenant not found.")
        if form.get("grant_type") != "client_credentials":
            return _aad_error(400, "unsupported_grant_type", 70003, "Unsupported grant type.")
        if form.get("client_id") != dyn.client_id:
            return _aad_error(400, "unauthorized_client", 700016, "Application not found.")
        if not hmac.compare_digest(str(form.get("client_secret", "")), dyn.client_secret):
            return _aad_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
        resource = dyn.resource or str(request.base_url).rstrip("/")
        if form.get("scope") != f"{resource}/.default":
            return _aad_error(
                400, "invalid_scope", 1002012, "The provided value for scope is not valid."
            )
        access = "eyJ0eXAi." + secrets.token_urlsafe(32)
        dyn.tokens[access] = dyn.clock() + TOKEN_SECONDS
        dyn.token_exchanges += 1
        return JSONResponse(
            {
                "token_type": "Bearer",
                "expires_in": TOKEN_SECONDS,
                "ext_expires_in": TOKEN_SECONDS,
                "access_token": access,
            }
        )

    async def state(request: Request) -> Response:
        return JSONResponse(dyn.state())

    async def limits(request: Request) -> Response:
        if request.method == "POST":
            try:
                dyn.window.set_limit(limit_body(await read_json(request), "rate_limit"))
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse({"rate_limit": dyn.window.limit})

    async def expire(request: Request) -> Response:
        dyn.expire_tokens()
        return JSONResponse({"expired": len(dyn.tokens)})

    async def reset(request: Request) -> Response:
        dataverse.rows.reset()
        return JSONResponse({"ok": True})

    return [
        Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
        Route("/api/data/v9.2/{path:path}", dyn.api, methods=["GET", "PATCH", "POST", "DELETE"]),
        Route("/_state", state, methods=["GET"]),
        Route("/_faults", dyn.faults.endpoint, methods=["GET", "POST"]),
        Route("/_limits", limits, methods=["GET", "POST"]),
        Route("/_tokens/expire", expire, methods=["POST"]),
        Route("/_all", reset, methods=["DELETE"]),
    ]


def create_dynamics_app(
    db_path: Path | None = None,
    *,
    tenant_id: str = "emulator-tenant",
    client_id: str = "emulator-app",
    client_secret: str = "emulator-secret",  # noqa: S107 - a test fixture, not a secret
    resource: str | None = None,
    rate_limit: int | None = DEFAULT_RATE_LIMIT,
    count_batch_operations: bool = False,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The Dynamics emulator as an ASGI app; its state is ``app.state.dynamics``."""
    emulator = DynamicsEmulator(
        Dataverse(RecordTable(db_path)),
        tenant_id=tenant_id,
        client_id=client_id,
        client_secret=client_secret,
        resource=resource,
        rate_limit=rate_limit,
        count_batch_operations=count_batch_operations,
        clock=clock,
    )
    app = Starlette(routes=_routes(emulator))
    app.state.dynamics = emulator
    return app


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m inkbridge_emulators.dynamics --port N``: the emulator as a process."""
    parser = emulator_arguments("Run the inkbridge Dynamics 365 emulator.", 8112)
    parser.add_argument("--rate-limit", type=int, default=DEFAULT_RATE_LIMIT)
    parser.add_argument("--count-batch-operations", action="store_true")
    args = parser.parse_args(argv)
    app = create_dynamics_app(
        args.db, rate_limit=args.rate_limit, count_batch_operations=args.count_batch_operations
    )
    serve(app, args)


if __name__ == "__main__":
    main()
