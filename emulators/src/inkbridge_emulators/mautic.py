"""A Mautic emulator: the OAuth2 token endpoint and the slice of the REST API that
``MauticConnector`` uses, in Mautic's shapes.

API (``Authorization: Bearer <token>`` from ``POST /oauth/v2/token`` with
``grant_type=client_credentials``, or HTTP basic auth):

- ``GET /api/contacts?where[0][col]=email&where[0][expr]=eq&where[0][val]=…`` (or
  ``search=email:…``) answers ``{"total": "N", "contacts": {"<id>": contact}}``; ``GET
  /api/contacts/{id}`` answers ``{"contact": …}``
- ``POST /api/contacts/batch/new`` and ``PATCH|PUT /api/contacts/batch/edit`` (a JSON list, at
  most 200) answer ``{"contacts", "statusCodes", "errors"}`` keyed by input index
- ``DELETE /api/contacts/{id}/delete`` answers ``{"contact": …}`` as it was, 404 once gone
  (``deletes`` in state)
- ``POST /api/contacts/{id}/dnc/{channel}/add`` ``{reason, comments}`` and ``…/remove``
- ``POST /api/segments/{id}/contact/{contactId}/add``, ``POST
  /api/campaigns/{id}/contact/{contactId}/add`` answer ``{"success": 1}``

Errors are ``{"errors": [{"message", "code", "type"}]}`` with the HTTP status in ``code``. Mautic
has no rate limit of its own; ``rate_limit_per_minute`` stands in for a proxy in front of it.

Test control: ``GET|POST /_faults``, ``POST /_expire_tokens``, ``GET|DELETE /_state``.
"""

from __future__ import annotations

import base64
import binascii
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
    bearer_token,
    control_routes,
    read_json,
    read_params,
    token_expiry_route,
)
from inkbridge_emulators.faults import FaultGate
from inkbridge_emulators.mautic_state import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    MANUAL,
    MauticEmulator,
    MauticRefusal,
)
from inkbridge_emulators.process import emulator_arguments, serve

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_PASSWORD",
    "DEFAULT_USERNAME",
    "MauticEmulator",
    "create_mautic_app",
]

Handler = Callable[[Request], Awaitable[Response]]


def _errors(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(MauticRefusal(status, message).body(), status_code=status, headers=headers)


def injected_failure(mode: str, retry_after: float | None) -> Response:
    """An injected fault in Mautic's error format."""
    if mode == "timeout":
        return _errors(504, "Gateway Timeout")
    if mode == "error500":
        return _errors(500, "Looks like I encountered an error (error #500).")
    if mode == "down":
        return _errors(503, "Service Unavailable")
    after = str(math.ceil(retry_after or 0.0))
    return _errors(429, "Too Many Requests", {"Retry-After": after})


def _authenticate(emulator: MauticEmulator, request: Request) -> None:
    token = bearer_token(request)
    if token is not None:
        emulator.check_bearer(token)
        return
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        raise MauticRefusal(401, "API authorization denied.", "access_denied")
    try:
        username, _, password = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise MauticRefusal(401, "API authorization denied.", "access_denied") from None
    emulator.check_basic(username, password)


def _guarded(emulator: MauticEmulator, handler: Handler) -> Handler:
    async def guarded(request: Request) -> Response:
        emulator.traffic.count(request)
        injected = await emulator.faults.suffer(request, emulator.traffic)
        if injected is not None:
            return injected
        try:
            _authenticate(emulator, request)
            wait = emulator.window.arrive()
            if wait is not None:
                return _errors(429, "Too Many Requests", {"Retry-After": str(math.ceil(wait))})
            return await handler(request)
        except MauticRefusal as exc:
            return JSONResponse(exc.body(), status_code=exc.status)

    return guarded


def _search_email(request: Request) -> str:
    query = request.query_params
    if query.get("where[0][col]") == "email" and query.get("where[0][expr]") == "eq":
        return query.get("where[0][val]", "")
    search = query.get("search", "")
    if search.startswith("email:"):
        return search.removeprefix("email:").strip('"')
    raise MauticRefusal(400, "Only email searches are emulated")


def _routes(emulator: MauticEmulator) -> Sequence[Route]:
    async def token(request: Request) -> Response:
        try:
            return JSONResponse(emulator.issue_token(await read_params(request)))
        except MauticRefusal as exc:
            body = {"error": exc.kind or "invalid_request", "error_description": exc.message}
            return JSONResponse(body, status_code=exc.status)

    async def list_contacts(request: Request) -> Response:
        query = request.query_params
        if not any(k == "search" or k.startswith("where[") for k in query):
            # A plain listing (?limit=N): the first contacts by id, as Mautic pages them.
            limit = int(query["limit"]) if query.get("limit", "").isdigit() else 30
            contacts = sorted(emulator.contacts.items())[:limit]
            found = [emulator.show(contact) for _, contact in contacts]
        else:
            found = emulator.search(_search_email(request))
        # An empty result is an object too: Mautic keeps the type stable for its clients.
        body = {"total": str(len(found)), "contacts": {str(c["id"]): c for c in found}}
        return JSONResponse(body)

    async def get_contact(request: Request) -> Response:
        contact = emulator.contact(request.path_params["contact_id"])
        return JSONResponse({"contact": emulator.show(contact)})

    async def batch_new(request: Request) -> Response:
        outcome = emulator.new_contacts(await read_json(request))
        return JSONResponse(outcome.body(), status_code=201)

    async def batch_edit(request: Request) -> Response:
        outcome = emulator.edit_contacts(await read_json(request), request.method)
        return JSONResponse(outcome.body())

    async def delete_contact(request: Request) -> Response:
        return JSONResponse({"contact": emulator.delete_contact(request.path_params["contact_id"])})

    async def dnc(request: Request) -> Response:
        contact_id = request.path_params["contact_id"]
        channel = request.path_params["channel"]
        action = request.path_params["action"]
        if action not in {"add", "remove"}:
            raise MauticRefusal(404, "Item was not found.")
        if action == "remove":
            return JSONResponse({"contact": emulator.remove_dnc(contact_id, channel)})
        body = await read_json(request)
        body = body if isinstance(body, dict) else {}
        reason = int(body.get("reason") or MANUAL)
        comments = str(body.get("comments") or "")
        return JSONResponse({"contact": emulator.add_dnc(contact_id, channel, reason, comments)})

    def membership(kind: str) -> Handler:
        async def add(request: Request) -> Response:
            params = request.path_params
            emulator.add_member(kind, params["group_id"], params["contact_id"])
            return JSONResponse({"success": 1})

        return add

    def guard(handler: Handler) -> Handler:
        return _guarded(emulator, handler)

    return [
        Route("/oauth/v2/token", token, methods=["POST"]),
        Route("/api/contacts", guard(list_contacts), methods=["GET"]),
        Route("/api/contacts/batch/new", guard(batch_new), methods=["POST"]),
        Route("/api/contacts/batch/edit", guard(batch_edit), methods=["PATCH", "PUT"]),
        Route("/api/contacts/{contact_id:int}", guard(get_contact), methods=["GET"]),
        Route("/api/contacts/{contact_id:int}/delete", guard(delete_contact), methods=["DELETE"]),
        Route(
            "/api/contacts/{contact_id:int}/dnc/{channel}/{action:str}",
            guard(dnc),
            methods=["POST"],
        ),
        Route(
            "/api/segments/{group_id:int}/contact/{contact_id:int}/add",
            guard(membership("segment")),
            methods=["POST"],
        ),
        Route(
            "/api/campaigns/{group_id:int}/contact/{contact_id:int}/add",
            guard(membership("campaign")),
            methods=["POST"],
        ),
        *control_routes(emulator),
        token_expiry_route(emulator),
    ]


def create_mautic_app(db_path: Path | None = None, **settings: Any) -> Starlette:
    """The Mautic emulator as an ASGI app; its state is ``app.state.emulator``. ``settings``
    are ``MauticEmulator`` fields (credentials, custom_fields, segments, campaigns,
    batch_limit, rate_limit_per_minute, token_ttl)."""
    faults = FaultGate(injected_failure, rate_limit_retry_after=2.0)
    emulator = MauticEmulator(DocumentStore(db_path), faults, **settings)
    app = Starlette(routes=list(_routes(emulator)))
    app.state.emulator = emulator
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = emulator_arguments("Run the inkbridge Mautic emulator.", 8112)
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    parser.add_argument("--username", default=DEFAULT_USERNAME)
    parser.add_argument("--password", default=DEFAULT_PASSWORD)
    args = parser.parse_args(argv)
    app = create_mautic_app(
        args.db,
        client_id=args.client_id,
        client_secret=args.client_secret,
        username=args.username,
        password=args.password,
    )
    serve(app, args)


if __name__ == "__main__":
    main()
