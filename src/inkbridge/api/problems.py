"""One mapping from inkbridge errors to RFC 9457 problem-details responses."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from inkbridge.errors import (
    ConfigError,
    InkbridgeError,
    InvalidInput,
    NotFaultable,
    NotFound,
    OriginNotAllowed,
    OutsideTestNamespace,
    PermanentError,
    PublishableKeyRefused,
    RateLimited,
    ResidencyViolation,
    RetryableError,
    SignerMismatch,
    StateConflict,
)
from inkbridge.privacy.region_keys import KeyUnavailable

PROBLEM = "application/problem+json"


def problem(status: int, title: str, detail: str | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


_STATUS: list[tuple[type[InkbridgeError], int, str]] = [
    (NotFound, 404, "Not found"),
    (InvalidInput, 422, "Invalid input"),
    (StateConflict, 409, "Conflict"),
    (SignerMismatch, 403, "Signer mismatch"),
    (ResidencyViolation, 403, "Residency policy"),
    (OutsideTestNamespace, 403, "Outside the test namespace"),
    (NotFaultable, 403, "Not a destination golive may fault"),
    (RetryableError, 502, "Provider unavailable"),
    (PermanentError, 502, "Provider refused the request"),
    (ConfigError, 500, "Configuration error"),
    # Data under a region key that is not configured: the operator must restore the key.
    (KeyUnavailable, 503, "Region key unavailable"),
    (PublishableKeyRefused, 401, "Publishable key required"),
    (OriginNotAllowed, 403, "Origin not allowed"),
    (RateLimited, 429, "Too many requests"),
]


async def _inkbridge_error(_request: Request, exc: Exception) -> JSONResponse:
    for kind, status, title in _STATUS:
        if isinstance(exc, kind):
            extra = {"field": exc.field} if isinstance(exc, InvalidInput) and exc.field else {}
            response = problem(status, title, str(exc), **extra)
            if isinstance(exc, RateLimited):
                response.headers["Retry-After"] = str(exc.retry_after)
            return response
    return problem(500, "Internal error")


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
    # The first offending field by name ("utm_source", "touchpoints.0.referrer"); the location
    # kind ("body", "query") is left off. Values are never echoed back.
    first = [str(part) for part in errors[0]["loc"][1:]] if errors else []
    extra = {"field": ".".join(first)} if first else {}
    return problem(
        422, "Invalid input", "the request body or parameters are invalid", errors=errors, **extra
    )


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    response = problem(exc.status_code, str(exc.detail) if exc.detail else "Error")
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def install(app: FastAPI) -> None:
    app.add_exception_handler(InkbridgeError, _inkbridge_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
