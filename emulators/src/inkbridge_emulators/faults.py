"""The one fault model every emulator uses, built on the sandbox's (``inkbridge.sandbox.faults``).

API faults: each emulator holds a ``FaultGate``. ``POST /_faults`` takes the same body everywhere
(``mode`` ok|error500|rate_limit|timeout|slow|down, ``count``, ``delay``, ``retry_after``);
``suffer`` applies the plan to one request and asks the emulator's ``render`` for the answer in
its vendor's format. Faults hit a vendor's data API only, never its token endpoint or the ``/_``
inspection endpoints, so a test can always read the state it asserts on.

Webhook faults: the provider emulators' ``Emitter`` takes a ``Chaos`` (duplicates, delays,
reordering, lost events), the same class the sandbox provider uses.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import Protocol

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from inkbridge.sandbox.faults import Chaos, FaultBody, FaultMode, FaultPlan, suffer

__all__ = ["Chaos", "FailureRenderer", "FaultBody", "FaultGate", "FaultMode", "FaultPlan"]

# Renders an injected failure in the vendor's format: (mode, retry_after) -> response, for the
# modes error500, down, rate_limit and timeout.
FailureRenderer = Callable[[str, float | None], Response]


class FaultCounter(Protocol):
    """Whatever keeps an emulator's request counters (``faulted_total`` goes in ``/_state``)."""

    faulted_total: int


class FaultGate:
    """An emulator's current fault plan, how one request suffers it, and ``/_faults``."""

    def __init__(
        self, render: FailureRenderer, *, rate_limit_retry_after: float | None = None
    ) -> None:
        self.plan = FaultPlan()
        self._render = render
        # What a rate_limit fault without its own retry_after tells the client to wait.
        self._rate_limit_retry_after = rate_limit_retry_after

    async def suffer(self, request: Request, counter: FaultCounter) -> Response | None:
        """The injected failure answer for this request, or None to carry on (after any delay)."""
        fault = self.plan.take()
        if fault.mode != "ok":
            counter.faulted_total += 1
        mode = await suffer(request, fault)
        if mode is None:
            return None
        after = fault.retry_after
        if mode == "rate_limit" and after is None:
            after = self._rate_limit_retry_after
        return self._render(mode, None if mode == "timeout" else after)

    def replace(self, raw: object) -> None:
        """Replace the plan from a ``/_faults`` body; ``ValidationError`` when it is not one."""
        self.plan = FaultPlan.from_body(FaultBody.model_validate(raw))

    async def endpoint(self, request: Request) -> Response:
        """``GET|POST /_faults``: read or replace the plan."""
        if request.method == "POST":
            try:
                self.replace(json.loads(await request.body() or b"null"))
            except (ValidationError, ValueError):
                return JSONResponse({"error": "body must be a fault plan"}, status_code=400)
        return JSONResponse(asdict(self.plan))
