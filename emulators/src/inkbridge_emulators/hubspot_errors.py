"""How the HubSpot emulator says no: whole-request refusals, per-input batch errors (HTTP 207)
and injected faults, in HubSpot's ``{status, category, message}`` error format.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import JSONResponse, Response

from inkbridge_emulators._crm_common import now_iso, seconds_header


class HubSpotRefusal(Exception):
    """A whole request HubSpot refuses; rendered as its ``{status, category, message}`` body."""

    def __init__(self, status: int, category: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message


@dataclass
class BatchAnswer:
    """Results and per-input errors of one batch call (HTTP 207 when there are errors)."""

    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def body(self, started: str) -> dict[str, Any]:
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": self.results,
            "startedAt": started,
            "completedAt": now_iso(),
        }
        if self.errors:
            body["numErrors"] = len(self.errors)
            body["errors"] = self.errors
        return body

    @property
    def http_status(self) -> int:
        return 207 if self.errors else 200


def item_error(category: str, message: str, **context: list[str]) -> dict[str, Any]:
    return {"status": "error", "category": category, "message": message, "context": context}


def hubspot_error(
    status: int, category: str, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }
    return JSONResponse(body, status_code=status, headers=headers)


def injected_failure(mode: str, retry_after: float | None) -> Response:
    after = None if retry_after is None else {"Retry-After": seconds_header(retry_after)}
    if mode == "rate_limit":
        return hubspot_error(
            429,
            "RATE_LIMITS",
            "You have reached your ten_secondly_rolling limit.",
            after,
            errorType="RATE_LIMIT",
            policyName="TEN_SECONDLY_ROLLING",
        )
    if mode == "timeout":
        return hubspot_error(504, "TIMEOUT", "upstream timed out")
    if mode == "down":
        return hubspot_error(503, "SERVICE_UNAVAILABLE", "HubSpot is unavailable", after)
    return hubspot_error(500, "INTERNAL_ERROR", "internal error")
