"""The built-in sandbox CRM (and, with ``kind="marketing"``, the sandbox marketing tool): a
HubSpot-like batch upsert API over SQLite, with failure injection and an optional rate limit.

API:

- ``POST /records/batch/upsert`` ``{"inputs": [{"id", "properties", "facts"}]}``, at most 100
- ``POST /records/erase`` ``{"lead_id"}``: delete the person (the lead's record and every record
  naming the lead, with their write log); ``GET /erasures`` lists the erasure calls received
- ``GET /records``, ``GET /records/{id}``, ``GET /writes[?record=]``, ``DELETE /_all``
- ``GET|POST /_faults`` failure injection for the upsert and erase endpoints
- ``GET|POST /_defects`` a refused write, double writes, early statuses taken as signed
  (``sandbox.crm_defects``)
- ``GET|POST /_limits`` the built-in token bucket; ``GET /_stats`` counters of upsert requests
  (requests_total, rejected_total by the bucket, faulted_total, max_seen_in_window per 10 s)

Access: the upsert, the erasure and the single-record read take the sandbox service credential
(inkbridge's connector) or an admin token; everything else needs admin.

It needs no lifespan, so it can be mounted anywhere. ``python -m inkbridge.sandbox.crm``
runs it as its own process, which is how acceptance tests kill it mid-load.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inkbridge.access import ADMIN, SANDBOX_SERVICE
from inkbridge.sandbox.crm_defects import CrmDefects, DefectBody
from inkbridge.sandbox.crm_store import CrmStore, UpsertInput
from inkbridge.sandbox.faults import FaultBody, FaultPlan, suffer
from inkbridge.sandbox.guard import Authorizer, Endpoint, guarded

MAX_BATCH = 100
WINDOW_SECONDS = 10.0

Scalar = str | int | float | bool | None


class LimitBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rate_limit_per_10s: int | None = Field(default=None, ge=1)


class InputBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: str = Field(min_length=1, max_length=255)
    properties: dict[str, Scalar] = Field(default_factory=dict)
    facts: list[str] = Field(default_factory=list)


class EraseBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    lead_id: str = Field(min_length=1, max_length=100)


class UpsertBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    inputs: list[InputBody] = Field(min_length=1, max_length=MAX_BATCH)


class Throttle:
    """An optional token bucket (N per 10 s) plus the counters tests assert on."""

    def __init__(self, rate_limit_per_10s: int | None) -> None:
        self.limit = rate_limit_per_10s
        self._tokens = float(rate_limit_per_10s or 0)
        self._refilled = time.monotonic()
        self._arrivals: deque[float] = deque()
        self.requests_total = 0
        self.rejected_total = 0
        self.faulted_total = 0
        self.max_seen_in_window = 0

    def set_limit(self, limit: int | None) -> None:
        self.limit = limit
        self._tokens = float(limit or 0)
        self._refilled = time.monotonic()

    def arrive(self) -> float | None:
        """Count one request; None if admitted, else seconds until a token frees up."""
        now = time.monotonic()
        self.requests_total += 1
        self._arrivals.append(now)
        while self._arrivals and self._arrivals[0] <= now - WINDOW_SECONDS:
            self._arrivals.popleft()
        self.max_seen_in_window = max(self.max_seen_in_window, len(self._arrivals))
        if self.limit is None:
            return None
        rate = self.limit / WINDOW_SECONDS
        self._tokens = min(float(self.limit), self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        self.rejected_total += 1
        return (1.0 - self._tokens) / rate

    def stats(self) -> dict[str, Any]:
        return {
            "requests_total": self.requests_total,
            "rejected_total": self.rejected_total,
            "faulted_total": self.faulted_total,
            "max_seen_in_window": self.max_seen_in_window,
            "window_seconds": WINDOW_SECONDS,
            "rate_limit_per_10s": self.limit,
        }


class SandboxCrm:
    """One sandbox CRM: its store, its fault plan, its defects and its throttle
    (``app.state.sandbox``)."""

    def __init__(self, store: CrmStore, kind: str, rate_limit_per_10s: int | None) -> None:
        self.store = store
        self.kind = kind
        self.service = f"sandbox-{kind}"
        self.faults = FaultPlan()
        self.defects = CrmDefects()
        self.throttle = Throttle(rate_limit_per_10s)


_Body = TypeVar("_Body", bound=BaseModel)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def _fail(
    status: int, category: str, message: str, retry_after: float | None = None
) -> JSONResponse:
    """A HubSpot-style error body; ``Retry-After`` in whole seconds unless a fraction was asked."""
    headers = None if retry_after is None else {"Retry-After": _seconds(retry_after)}
    return _json({"status": "error", "category": category, "message": message}, status, headers)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _validation(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"{where}: {first['msg']}" if where else str(first["msg"])


async def _control_body(request: Request, model: type[_Body]) -> _Body | JSONResponse:
    """A control request's body as ``model``, or the HubSpot-style 400 that refuses it."""
    try:
        return model.model_validate(await request.json())
    except ValidationError as exc:
        return _fail(400, "VALIDATION_ERROR", _validation(exc))
    except ValueError:
        return _fail(400, "VALIDATION_ERROR", "body is not valid JSON")


def _routes(crm: SandboxCrm, authorizer: Authorizer | None) -> Sequence[Route]:
    async def refused(request: Request) -> Response | None:
        """The injected fault or throttle answer for this data request, if any."""
        fault = crm.faults.take()
        wait = crm.throttle.arrive()
        if fault.mode != "ok":
            crm.throttle.faulted_total += 1
        mode = await suffer(request, fault)
        if mode == "timeout":
            return _fail(504, "TIMEOUT", "the CRM did not answer in time")
        if mode == "error500":
            return _fail(500, "INTERNAL_ERROR", "injected server error")
        if mode == "down":
            return _fail(503, "UNAVAILABLE", "the CRM is down", fault.retry_after)
        if mode == "rate_limit":
            after = 1.0 if fault.retry_after is None else fault.retry_after
            return _fail(429, "RATE_LIMITS", "injected rate limit", after)
        if wait is not None:
            return _fail(429, "RATE_LIMITS", "rate limit exceeded", math.ceil(wait))
        return None

    async def upsert(request: Request) -> Response:
        refusal = await refused(request)
        if refusal is not None:
            return refusal
        if crm.defects.take_rejection():
            crm.throttle.faulted_total += 1
            return _fail(400, "VALIDATION_ERROR", "injected: the records were refused as invalid")
        try:
            raw = await request.json()
        except ValueError:
            return _fail(400, "VALIDATION_ERROR", "body is not valid JSON")
        inputs = raw.get("inputs") if isinstance(raw, dict) else None
        if isinstance(inputs, list) and len(inputs) > MAX_BATCH:
            return _fail(400, "VALIDATION_ERROR", f"at most {MAX_BATCH} inputs per batch")
        try:
            body = UpsertBody.model_validate(raw)
        except ValidationError as exc:
            return _fail(400, "VALIDATION_ERROR", _validation(exc))
        started = datetime.now(UTC).isoformat()
        # A durable commit: off the event loop, which serves webhooks in the same process.
        inputs = [UpsertInput(i.id, i.properties, tuple(i.facts)) for i in body.inputs]
        results = await asyncio.to_thread(crm.store.upsert, crm.defects.applied(inputs))
        return _json(
            {
                "status": "COMPLETE",
                "service": crm.service,
                "results": results,
                "startedAt": started,
                "completedAt": datetime.now(UTC).isoformat(),
            }
        )

    async def erase(request: Request) -> Response:
        refusal = await refused(request)
        if refusal is not None:
            return refusal
        body = await _control_body(request, EraseBody)
        if isinstance(body, JSONResponse):
            return body
        deleted = await asyncio.to_thread(crm.store.erase, body.lead_id)
        return _json({"service": crm.service, "lead_id": body.lead_id, "deleted": deleted})

    async def list_erasures(request: Request) -> Response:
        erased = crm.store.erasures()
        return _json({"service": crm.service, "total": len(erased), "results": erased})

    async def list_records(request: Request) -> Response:
        records = crm.store.records()
        return _json({"service": crm.service, "total": len(records), "results": records})

    async def get_record(request: Request) -> Response:
        found = crm.store.record(request.path_params["record_id"])
        if found is None:
            return _fail(404, "OBJECT_NOT_FOUND", "no such record")
        return _json(found)

    async def list_writes(request: Request) -> Response:
        writes = crm.store.writes(request.query_params.get("record"))
        return _json({"service": crm.service, "total": len(writes), "results": writes})

    async def reset(request: Request) -> Response:
        crm.store.reset()
        crm.faults = FaultPlan()
        crm.defects = CrmDefects()
        crm.throttle = Throttle(crm.throttle.limit)
        return _json({"ok": True})

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            body = await _control_body(request, FaultBody)
            if isinstance(body, JSONResponse):
                return body
            crm.faults = FaultPlan.from_body(body)
        return _json(asdict(crm.faults))

    async def defects(request: Request) -> Response:
        if request.method == "POST":
            body = await _control_body(request, DefectBody)
            if isinstance(body, JSONResponse):
                return body
            crm.defects = CrmDefects.from_body(body)
        return _json(crm.defects.as_dict())

    async def limits(request: Request) -> Response:
        if request.method == "POST":
            limit = await _control_body(request, LimitBody)
            if isinstance(limit, JSONResponse):
                return limit
            crm.throttle.set_limit(limit.rate_limit_per_10s)
        return _json({"rate_limit_per_10s": crm.throttle.limit})

    async def stats(request: Request) -> Response:
        return _json({"service": crm.service, **crm.throttle.stats()})

    def service(endpoint: Endpoint) -> Endpoint:
        return guarded(endpoint, SANDBOX_SERVICE, authorizer)

    def admin(endpoint: Endpoint) -> Endpoint:
        return guarded(endpoint, ADMIN, authorizer)

    return [
        Route("/records/batch/upsert", service(upsert), methods=["POST"]),
        Route("/records/erase", service(erase), methods=["POST"]),
        Route("/records", admin(list_records), methods=["GET"]),
        # The connector reads a record back after an uncertain write.
        Route("/records/{record_id:path}", service(get_record), methods=["GET"]),
        Route("/writes", admin(list_writes), methods=["GET"]),
        Route("/erasures", admin(list_erasures), methods=["GET"]),
        Route("/_all", admin(reset), methods=["DELETE"]),
        Route("/_faults", admin(faults), methods=["GET", "POST"]),
        Route("/_defects", admin(defects), methods=["GET", "POST"]),
        Route("/_limits", admin(limits), methods=["GET", "POST"]),
        Route("/_stats", admin(stats), methods=["GET"]),
    ]


def create_crm_app(
    db_path: Path | None,
    *,
    kind: Literal["crm", "marketing"] = "crm",
    rate_limit_per_10s: int | None = None,
    authorizer: Authorizer | None = None,
) -> Starlette:
    """The sandbox CRM (or marketing tool) as an ASGI app; its state is ``app.state.sandbox``.

    ``authorizer`` checks every route (see ``sandbox.guard``); the host that mounts the
    sandbox passes one. The emulator run as its own process (a test tool) has none.
    """
    crm = SandboxCrm(CrmStore(db_path), kind, rate_limit_per_10s)
    app = Starlette(routes=list(_routes(crm, authorizer)))
    app.state.sandbox = crm
    return app


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m inkbridge.sandbox.crm --port N --db PATH``: the emulator as a process."""
    import uvicorn

    parser = argparse.ArgumentParser(description="Run the inkbridge sandbox CRM emulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--db", type=Path, default=None, help="SQLite file (default: memory)")
    parser.add_argument("--kind", choices=["crm", "marketing"], default="crm")
    parser.add_argument("--rate-limit-per-10s", type=int, default=None)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    app = create_crm_app(args.db, kind=args.kind, rate_limit_per_10s=args.rate_limit_per_10s)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
