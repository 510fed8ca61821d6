"""``GET /v1/webhooks/{connection}``: the registration check some providers make before they
deliver (Acrobat Sign sends its client id and expects it echoed). Other providers get 405."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from inkbridge.errors import SignatureInvalid
from inkbridge.providers.base import InboundRequest
from inkbridge.providers.registry import ConnectionBinding

log = structlog.get_logger("inkbridge.webhooks")
PROBLEM = "application/problem+json"


def _problem(status: int, title: str) -> Response:
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status}, status, media_type=PROBLEM
    )


def registration_endpoint(
    bindings: Mapping[str, ConnectionBinding],
) -> Callable[[Request], Awaitable[Response]]:
    async def verify_registration(request: Request) -> Response:
        binding = bindings.get(request.path_params["connection"])
        if binding is None:
            return _problem(404, "no connection of that name is configured")
        inbound = InboundRequest(
            connection=binding.name,
            method="GET",
            headers={k.lower(): v for k, v in request.headers.items()},
            query=dict(request.query_params),
            body=b"",
            received_at=datetime.now(UTC),
        )
        try:
            ack = binding.adapter.verify_registration(inbound)
        except SignatureInvalid as exc:
            log.warning("webhook_registration_refused", connection=binding.name, reason=exc.reason)
            return _problem(401, "unknown client")
        if ack is None:
            return _problem(405, "this provider does not register webhooks with a GET")
        return Response(ack.body, ack.status, headers=dict(ack.headers), media_type=ack.media_type)

    return verify_registration
