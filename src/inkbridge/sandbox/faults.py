"""How the sandbox's fake vendors misbehave on request: one vocabulary of faults.

A ``FaultPlan`` says what the next API requests suffer (``POST /_faults`` with a ``FaultBody``:
``error500``, ``down``, ``rate_limit``, ``timeout`` or ``slow``, for ``count`` requests or until
changed); ``suffer`` applies its time-based part. ``Chaos`` says how badly webhooks are delivered
(duplicates, delays, reordering, lost events). The sandbox CRM and provider use them, and so do
the vendor emulators (a distribution of their own, built on these), so every fake vendor fails
the same way.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request

FaultMode = Literal["ok", "error500", "rate_limit", "timeout", "slow", "down"]
# Longer than any sane client timeout: the client gives up first, as with a hung vendor.
HANG_SECONDS = 600.0
SLOW_SECONDS = 2.0


class FaultBody(BaseModel):
    """The body of ``POST /_faults``."""

    model_config = ConfigDict(extra="forbid")
    mode: FaultMode = "ok"
    count: int | None = Field(default=None, ge=1)  # None: until changed
    delay: float | None = Field(default=None, ge=0)
    retry_after: float | None = Field(default=None, ge=0)


@dataclass
class FaultPlan:
    """What the next requests suffer. ``remaining`` None means until changed."""

    mode: FaultMode = "ok"
    remaining: int | None = None
    delay: float | None = None
    retry_after: float | None = None

    @classmethod
    def from_body(cls, body: FaultBody) -> FaultPlan:
        return cls(body.mode, body.count, body.delay, body.retry_after)

    def take(self) -> FaultPlan:
        """The fault for this request, counting it down; back to ``ok`` once used up."""
        current = FaultPlan(self.mode, self.remaining, self.delay, self.retry_after)
        if self.mode != "ok" and self.remaining is not None:
            self.remaining -= 1
            if self.remaining <= 0:
                self.mode, self.remaining = "ok", None
        return current


async def hang(request: Request, seconds: float) -> None:
    """Sleep, but stop once the client has hung up so shutdown is not held back."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while loop.time() < deadline:
        if await request.is_disconnected():
            return
        await asyncio.sleep(min(0.1, max(0.0, deadline - loop.time())))


async def suffer(request: Request, fault: FaultPlan) -> str | None:
    """Apply the time-based part of a fault; return the mode the vendor must answer with
    (``error500``, ``down``, ``rate_limit``, ``timeout``) or None to answer normally."""
    if fault.mode == "ok":
        return None
    if fault.mode == "timeout":
        await hang(request, fault.delay or HANG_SECONDS)
        return "timeout"
    if fault.mode == "slow":
        await asyncio.sleep(SLOW_SECONDS if fault.delay is None else fault.delay)
        return None
    return fault.mode


@dataclass
class Chaos:
    """How badly a fake provider delivers webhooks.

    ``duplicate_rate``: chance (0..1) that an event is sent twice with the same webhook-id.
    ``max_delay_seconds``: each event waits a random 0..max before its first attempt.
    ``reorder``: hold events for ``reorder_window_seconds`` and send that window shuffled.
    ``drop_rate``: chance (0..1) that an event is recorded in the history but never sent, which
    is what the reconciler exists for.
    ``seed``: makes the random choices repeatable.
    """

    duplicate_rate: float = 0.0
    max_delay_seconds: float = 0.0
    reorder: bool = False
    reorder_window_seconds: float = 0.25
    drop_rate: float = 0.0
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("duplicate_rate", "drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.max_delay_seconds < 0 or self.reorder_window_seconds < 0:
            raise ValueError("delays must not be negative")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ChaosBody(BaseModel):
    """The body of ``POST /_chaos``: the ``Chaos`` fields to change."""

    model_config = ConfigDict(extra="forbid")  # a typo in a test's chaos must not pass silently
    duplicate_rate: float | None = None
    max_delay_seconds: float | None = None
    reorder: bool | None = None
    reorder_window_seconds: float | None = None
    drop_rate: float | None = None
    seed: int | None = None
