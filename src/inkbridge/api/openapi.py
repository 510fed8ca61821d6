"""The OpenAPI document: FastAPI's, completed with every answer the API can give.

FastAPI documents the success answer and its own 422. Everything else an operation can answer
comes from places it cannot see: the body limits (400, 413, 415, see api.body_limits), bearer
authentication (401, 403), the error mapping (404, 409, 422, 502, see api.problems) and rate
limits (429). Each is added here as ``application/problem+json`` with one ``Problem`` schema, so
a schema-conformance fuzzer finds no undocumented answer.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from inkbridge.api.problems import PROBLEM
from inkbridge.api.schemas import AnonymousTouchIn

PROBLEM_REF = "#/components/schemas/Problem"
METHODS = ("get", "put", "post", "patch", "delete", "options")

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details. Values sent by the caller are never echoed.",
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "field": {"type": "string", "description": "the first offending field, by name"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": ["string", "integer"]}},
                    "msg": {"type": "string"},
                },
            },
        },
    },
}

# Why each status is answered; the descriptions the document shows.
REASONS = {
    400: "The body is not JSON inkbridge accepts (syntax, nesting depth, duplicate keys, "
    "invalid Unicode, NaN, NUL).",
    401: "No bearer token, or one that is unknown, revoked or expired.",
    403: "The token lacks the scope this operation needs, or residency forbids it.",
    404: "A resource the request names does not exist.",
    409: "The request conflicts with the resource's state.",
    413: "The body is over the size limit.",
    415: "The body is not application/json.",
    422: "A field or parameter is invalid; `field` names the first.",
    429: "Too many requests; retry after the Retry-After header's seconds.",
    502: "The e-signature provider failed or refused the request.",
}

# Every `/v1` operation: authentication, the error mapping, validation.
EVERY_OPERATION = (401, 403, 404, 422)
WITH_A_BODY = (400, 413, 415)
# Answers only some operations give: (method, path) -> statuses.
SOME_OPERATIONS: dict[tuple[str, str], tuple[int, ...]] = {
    ("post", "/v1/envelopes"): (409, 502),
    ("post", "/v1/envelopes/{envelope_id}/signing-session"): (409, 502),
    ("get", "/v1/envelopes/{envelope_id}/document"): (409, 502),
    ("post", "/v1/admin/reconcile"): (502,),
    ("post", "/v1/touchpoints"): (429,),
    ("options", "/v1/touchpoints"): (429,),
}
# Operations that read their body by hand (no Pydantic parameter), documented here instead.
HAND_READ_BODIES: dict[tuple[str, str], tuple[type[BaseModel], tuple[str, ...]]] = {
    ("post", "/v1/touchpoints"): (AnonymousTouchIn, ("application/json", "text/plain")),
}


def _problem_response(status: int) -> dict[str, Any]:
    return {"description": REASONS[status], "content": {PROBLEM: {"schema": {"$ref": PROBLEM_REF}}}}


def _add_body(
    document: dict[str, Any],
    operation: dict[str, Any],
    model: type[BaseModel],
    types: tuple[str, ...],
) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    schemas.setdefault(model.__name__, schema)
    ref = {"$ref": f"#/components/schemas/{model.__name__}"}
    operation["requestBody"] = {
        "required": True,
        "content": {media_type: {"schema": ref} for media_type in types},
    }


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """Add the problem answers (and hand-read bodies) to every `/v1` operation of ``document``."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            if path == "/readyz":
                operation["responses"]["503"] = {"description": "A region's database is down."}
            if not path.startswith("/v1/"):
                continue
            hand_read = HAND_READ_BODIES.get((method, path))
            if hand_read is not None and "requestBody" not in operation:
                _add_body(document, operation, *hand_read)
            statuses = list(EVERY_OPERATION) + list(SOME_OPERATIONS.get((method, path), ()))
            if "requestBody" in operation:
                statuses += WITH_A_BODY
            responses = operation.setdefault("responses", {})
            for status in statuses:
                answer = _problem_response(status)
                # A route's own account of when it answers so is kept; the shape is Problem.
                declared = responses.get(str(status), {}).get("description")
                responses[str(status)] = {
                    **answer,
                    "description": declared or answer["description"],
                }
            if path.startswith("/v1/reports/") and any(
                p.get("name") == "format" for p in operation.get("parameters", [])
            ):
                # Reports answer CSV too (?format=csv or Accept: text/csv).
                for status, answer in responses.items():
                    if status.startswith("2"):
                        answer.setdefault("content", {})["text/csv"] = {
                            "schema": {"type": "string"}
                        }
    # FastAPI's own validation-error shapes are replaced by Problem everywhere.
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in schemas and unused not in str(document.get("paths")):
            del schemas[unused]
    return document


def install(app: FastAPI) -> None:
    """Serve the completed document at /openapi.json (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = complete(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
