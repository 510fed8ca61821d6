"""A Salesforce emulator: the OAuth token endpoint, sObject Collections upserts and SOQL queries
that ``connectors.salesforce`` uses, with Salesforce's error bodies and daily API quota.

API (``Authorization: Bearer <access token>``; errors as ``[{"message", "errorCode"}]``):

- ``POST /services/oauth2/token``: JWT bearer (``iss`` client id, ``sub`` username, ``aud`` the
  login URL; RS256 checked when a public key is given) or client credentials; answers
  ``access_token`` and ``instance_url`` (this emulator) and no lifetime, as Salesforce does
- ``PATCH /services/data/{v}/composite/sobjects/{sObject}/{externalIdField}`` at most 200
  records (``EXCEEDED_ID_LIMIT``), one result per record, ``allOrNone`` honoured
- ``GET /services/data/{v}/query?q=SELECT … FROM … WHERE f IN (…)``
- ``DELETE /services/data/{v}/sobjects/{sObject}/{externalIdField}/{value}``
  (``salesforce_erasure``; ``deletes`` in state)

An expired or unknown token answers 401 ``INVALID_SESSION_ID``. Every API answer carries
``Sforce-Limit-Info: api-usage=<used>/<limit>`` for the rolling 24 hours; past the limit the
answer is 403 ``REQUEST_LIMIT_EXCEEDED``.

Inspection: ``GET /_state`` (records by object, tasks, consents, request counters, API usage),
``GET|POST /_faults`` (the shared fault body, plus ``{"lock_record": <External ID value>,
"lock_count": N}`` to fail that record with ``UNABLE_TO_LOCK_ROW``), ``GET|POST /_limits``
``{"daily_limit": N|null}``, ``POST /_sessions/expire``, ``DELETE /_all``.
``python -m inkbridge_emulators.salesforce --port N [--db PATH] [--daily-limit N]``.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import jwt
from pydantic import ValidationError
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
from inkbridge_emulators.faults import FaultGate
from inkbridge_emulators.process import emulator_arguments, serve
from inkbridge_emulators.salesforce_erasure import SObjectDeletes
from inkbridge_emulators.salesforce_state import LockFault, SalesforceOrg, SalesforceRefusal

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DAY_SECONDS = 86_400.0
SESSION_SECONDS = 7200.0
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")

Handler = Callable[[Request], Awaitable[Response]]


def sf_error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse([{"message": message, "errorCode": code}], status, headers=headers)


def oauth_error(error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, 400)


def _injected(mode: str, retry_after: float | None) -> Response:
    after = None if retry_after is None else {"Retry-After": seconds_header(retry_after)}
    if mode == "rate_limit":
        return sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", after)
    if mode == "timeout":
        return sf_error(504, "REQUEST_RUNNING_TOO_LONG", "Your request was running for too long")
    if mode == "down":
        return sf_error(503, "SERVER_UNAVAILABLE", "Server unavailable", after)
    return sf_error(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred.")


class SalesforceEmulator:
    """One emulated org: its records, connected app, sessions, quota and faults."""

    def __init__(
        self,
        org: SalesforceOrg,
        *,
        client_id: str,
        client_secret: str,
        username: str,
        public_key_pem: str | None,
        daily_limit: int | None,
        session_seconds: float,
        instance_url: str | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.org = org
        self.client_id = client_id
        self.client_secret = client_secret
        self.username = username
        self.public_key_pem = public_key_pem
        self.session_seconds = session_seconds
        self.instance_url = instance_url
        self.clock = clock
        self.sessions: dict[str, float] = {}
        self.token_exchanges = 0
        self.window = SlidingWindow(daily_limit, DAY_SECONDS)
        self.faults = FaultGate(_injected, rate_limit_retry_after=1.0)
        self.by_route, self.count_route = route_counter()
        self.deletes = SObjectDeletes(org)

    def expire_sessions(self) -> None:
        self.sessions = dict.fromkeys(self.sessions, 0.0)

    def usage_header(self) -> dict[str, str]:
        if self.window.limit is None:
            return {}
        return {"Sforce-Limit-Info": f"api-usage={self.window.used()}/{self.window.limit}"}

    def api(self, name: str, handler: Handler) -> Handler:
        """Wrap an API route: count against the quota, inject faults, check the session."""

        async def guarded(request: Request) -> Response:
            self.count_route(name)
            over = self.window.arrive()
            fault = await self.faults.suffer(request, self.window)
            if fault is not None:
                return fault
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            expiry = self.sessions.get(token) if scheme.lower() == "bearer" else None
            if expiry is None or expiry <= self.clock():
                return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
            headers = self.usage_header()
            if over is not None:
                return sf_error(
                    403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.", headers
                )
            try:
                response = await handler(request)
            except SalesforceRefusal as exc:
                response = sf_error(exc.status, exc.code, exc.message)
            except ValueError:
                response = sf_error(400, "JSON_PARSER_ERROR", "The request body is not valid JSON")
            response.headers.update(headers)
            return response

        return guarded

    def check_assertion(self, assertion: str, audiences: Sequence[str]) -> str | None:
        """None when the JWT bearer assertion is good, else the OAuth error description."""
        try:
            if self.public_key_pem is not None:
                claims = jwt.decode(
                    assertion,
                    self.public_key_pem,
                    algorithms=["RS256"],
                    audience=list(audiences),
                    options={"require": ["iss", "sub", "aud", "exp"]},
                )
            else:
                claims = jwt.decode(assertion, options={"verify_signature": False})
                if claims.get("aud") not in audiences:
                    return "audience is invalid"
        except jwt.InvalidAudienceError:
            return "audience is invalid"
        except jwt.ExpiredSignatureError:
            return "expired authorization code"
        except jwt.PyJWTError:
            return "invalid assertion"
        if claims.get("iss") != self.client_id:
            return "client identifier invalid"
        if claims.get("sub") != self.username:
            return "user hasn't approved this consumer"
        return None

    def state(self) -> dict[str, Any]:
        return {
            **self.org.dump(),
            "requests": requests_summary(self.window, self.by_route),
            "max_requests_in_window": self.window.max_seen_in_window,
            "api_usage": {"used": self.window.used(), "limit": self.window.limit},
            "token_exchanges": self.token_exchanges,
            "lock": asdict(self.org.lock),
            "deletes": list(self.deletes.calls),
        }


def _routes(sf: SalesforceEmulator) -> list[Route]:
    org = sf.org

    async def token(request: Request) -> Response:
        form = await request.form()
        base = str(request.base_url).rstrip("/")
        grant = form.get("grant_type")
        if grant == JWT_BEARER_GRANT:
            problem = sf.check_assertion(str(form.get("assertion", "")), (*LOGIN_AUDIENCES, base))
            if problem is not None:
                return oauth_error("invalid_grant", problem)
        elif grant == "client_credentials":
            if form.get("client_id") != sf.client_id:
                return oauth_error("invalid_client_id", "client identifier invalid")
            if not hmac.compare_digest(str(form.get("client_secret", "")), sf.client_secret):
                return oauth_error("invalid_client", "invalid client credentials")
        else:
            return oauth_error("unsupported_grant_type", "grant type not supported")
        access = "00Demulator!" + secrets.token_urlsafe(32)
        sf.sessions[access] = sf.clock() + sf.session_seconds
        sf.token_exchanges += 1
        return JSONResponse(
            {
                "access_token": access,
                "scope": "api",
                "instance_url": sf.instance_url or base,
                "id": f"{base}/id/00Demulator0000001/005emulator00001",
                "token_type": "Bearer",
                "issued_at": str(int(sf.clock() * 1000)),
            }
        )

    async def upsert(request: Request) -> Response:
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise SalesforceRefusal(400, "JSON_PARSER_ERROR", "records must be an array")
        results = org.upsert(
            request.path_params["sobject"],
            request.path_params["field"],
            body["records"],
            bool(body.get("allOrNone", False)),
        )
        return JSONResponse(results)

    async def query(request: Request) -> Response:
        rows = org.query(request.query_params.get("q", ""))
        return JSONResponse({"totalSize": len(rows), "done": True, "records": rows})

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                raw = await read_json(request)
                if not isinstance(raw, dict):
                    raise ValueError("body must be an object")
                if "lock_record" in raw or "lock_count" in raw:
                    record, count = raw.pop("lock_record", None), raw.pop("lock_count", None)
                    if (record is not None and not isinstance(record, str)) or (
                        count is not None and (not isinstance(count, int) or count < 1)
                    ):
                        raise ValueError("lock_record must be a string, lock_count >= 1")
                    org.lock = LockFault(record, count)
                if raw or org.lock.record is None:
                    sf.faults.replace(raw)
            except (ValidationError, ValueError) as exc:
                return JSONResponse({"error": type(exc).__name__}, 400)
        return JSONResponse({**asdict(sf.faults.plan), "lock": asdict(org.lock)})

    async def state(request: Request) -> Response:
        return JSONResponse(sf.state())

    async def limits(request: Request) -> Response:
        if request.method == "POST":
            try:
                sf.window.set_limit(limit_body(await read_json(request), "daily_limit"))
            except ValueError as exc:
                return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse({"daily_limit": sf.window.limit})

    async def expire(request: Request) -> Response:
        sf.expire_sessions()
        return JSONResponse({"expired": len(sf.sessions)})

    async def reset(request: Request) -> Response:
        org.table.reset()
        return JSONResponse({"ok": True})

    async def org_limits(request: Request) -> Response:
        # The org's limits as Salesforce names them; only the API requests are emulated.
        daily = sf.window.limit or 15000
        remaining = max(0, daily - sf.window.used())
        return JSONResponse({"DailyApiRequests": {"Max": daily, "Remaining": remaining}})

    data = "/services/data/{version}"
    return [
        Route(data + "/limits", sf.api("limits", org_limits), methods=["GET"]),
        Route("/services/oauth2/token", token, methods=["POST"]),
        Route(
            data + "/composite/sobjects/{sobject}/{field}",
            sf.api("collections_upsert", upsert),
            methods=["PATCH"],
        ),
        Route(data + "/query", sf.api("query", query), methods=["GET"]),
        Route(
            data + "/sobjects/{sobject}/{field}/{value}",
            sf.api("delete", sf.deletes.endpoint),
            methods=["DELETE"],
        ),
        Route("/_state", state, methods=["GET"]),
        Route("/_faults", faults, methods=["GET", "POST"]),
        Route("/_limits", limits, methods=["GET", "POST"]),
        Route("/_sessions/expire", expire, methods=["POST"]),
        Route("/_all", reset, methods=["DELETE"]),
    ]


def create_salesforce_app(
    db_path: Path | None = None,
    *,
    client_id: str = "emulator-connected-app",
    client_secret: str = "emulator-secret",  # noqa: S107 - a test fixture, not a secret
    username: str = "integration@inkbridge.example",
    public_key_pem: str | None = None,
    daily_limit: int | None = 15_000,
    session_seconds: float = SESSION_SECONDS,
    instance_url: str | None = None,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """The Salesforce emulator as an ASGI app; its state is ``app.state.salesforce``."""
    emulator = SalesforceEmulator(
        SalesforceOrg(RecordTable(db_path)),
        client_id=client_id,
        client_secret=client_secret,
        username=username,
        public_key_pem=public_key_pem,
        daily_limit=daily_limit,
        session_seconds=session_seconds,
        instance_url=instance_url,
        clock=clock,
    )
    app = Starlette(routes=_routes(emulator))
    app.state.salesforce = emulator
    return app


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m inkbridge_emulators.salesforce --port N``: the emulator as a process."""
    parser = emulator_arguments("Run the inkbridge Salesforce emulator.", 8111)
    parser.add_argument("--daily-limit", type=int, default=15_000)
    parser.add_argument("--public-key", type=Path, default=None, help="PEM to check JWTs with")
    args = parser.parse_args(argv)
    public_key = args.public_key.read_text(encoding="utf-8") if args.public_key else None
    app = create_salesforce_app(args.db, daily_limit=args.daily_limit, public_key_pem=public_key)
    serve(app, args)


if __name__ == "__main__":
    main()
