"""The public capture endpoint, ``POST /v1/touchpoints`` and its CORS preflight: the only `/v1`
route without a bearer token. A call needs a publishable key (``?key=pk_…``, so the browser
snippet still posts a simple request, without a preflight) and an ``Origin`` on that key's
allow-list; it spends the client IP's and the key's request budgets; the time stored is the
server's (see domain.touch_times). Answers echo the allowed origin, never ``*``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from inkbridge.api.schemas import AnonymousTouchIn, TouchpointIn
from inkbridge.bootstrap import Container
from inkbridge.errors import InvalidInput
from inkbridge.services import leads as lead_service
from inkbridge.services import publishable_keys
from inkbridge.services.rate_limits import CaptureLimits

router = APIRouter(prefix="/v1")

MAX_TOUCH_BYTES = 16_384
PREFLIGHT_MAX_AGE_SECONDS = 600

Key = Annotated[
    str | None,
    Query(max_length=200, description="the publishable key (pk_…) of the calling site"),
]


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/problem+json": {}}}


REFUSALS: dict[int | str, dict[str, Any]] = {
    401: _problem("no publishable key, or an unknown or revoked one"),
    403: _problem("Origin missing or not on the key's allow-list"),
    429: _problem("the client IP's or the key's request budget is spent; see Retry-After"),
}


def _container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def _limits(request: Request) -> CaptureLimits:
    limits: CaptureLimits = request.app.state.capture_limits
    return limits


async def _admit(request: Request, key: str | None) -> publishable_keys.PublishableKey:
    """Budget per client IP first (it protects the key lookup too), then the key and its
    origin, then the key's own budget."""
    _limits(request).admit_ip(request.client.host if request.client else None)
    admitted = await run_in_threadpool(
        publishable_keys.admit,
        _container(request).databases,
        key,
        request.headers.get("origin"),
    )
    _limits(request).admit_key(admitted.key_id, admitted.rate_per_minute)
    return admitted


def _cors(origin: str) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


@router.post(
    "/touchpoints",
    status_code=202,
    tags=["capture"],
    responses={**REFUSALS, 422: _problem("the touch cannot be read")},
)
async def capture_touchpoint(request: Request, key: Key = None) -> JSONResponse:
    """Public, with a publishable key: the capture snippet records an anonymous visitor's touch
    (UTM, click ids, referrer, landing page), stitched to the lead by anonymous id when the
    visitor converts. Accepts a JSON body sent as ``text/plain`` too, so browsers post it
    without a preflight. ``occurred_at`` is a hint, kept only within the allowed clock skew."""
    received_at = datetime.now(UTC)
    admitted = await _admit(request, key)
    raw = await request.body()
    if len(raw) > MAX_TOUCH_BYTES:
        raise InvalidInput("the touch is too large", field="body")
    try:
        body = AnonymousTouchIn.model_validate_json(raw)
    except ValidationError as exc:
        raise InvalidInput(str(exc.errors()[0].get("msg", "invalid touch")), field="body") from None
    touch = TouchpointIn(**body.model_dump(exclude={"anonymous_id"})).to_domain(received_at)
    settings = _container(request).settings.capture
    stored_at = await run_in_threadpool(
        lead_service.record_touchpoint,
        _container(request).databases,
        body.anonymous_id,
        touch,
        admitted.region,
        received_at=received_at,
        clock_skew=timedelta(seconds=settings.clock_skew_seconds),
    )
    origin = request.headers["origin"]  # present: the key admitted it
    return JSONResponse(
        {"status": "accepted", "occurred_at": stored_at.isoformat()},
        status_code=202,
        headers=_cors(origin),
    )


@router.options(
    "/touchpoints",
    status_code=204,
    tags=["capture"],
    responses={**REFUSALS, 204: {"description": "the origin may post touches with this key"}},
)
async def touchpoint_preflight(request: Request, key: Key = None) -> Response:
    """The CORS preflight of a browser that posts as ``application/json``: allowed for an origin
    on the key's allow-list (the key comes in the URL, as for the post itself)."""
    await _admit(request, key)
    origin = request.headers["origin"]
    return Response(
        status_code=204,
        headers={
            **_cors(origin),
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "content-type",
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS),
        },
    )
