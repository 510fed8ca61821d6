"""``GET /v1/admin/receipts``: the receipts the worker parked, for an operator to look into —
refused for residency (what they named is held by another region), failed, or ignored (verified
but carrying nothing inkbridge acts on: an unmapped event type, no envelope id). Admin scope;
the listing carries no body and no headers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool

from inkbridge.api.auth import require
from inkbridge.bootstrap import Container
from inkbridge.domain.queue_states import ReceiptStatus
from inkbridge.services.admin import parked_receipts
from inkbridge.services.tokens import TokenIdentity

router = APIRouter(prefix="/v1")

IsAdmin = Annotated[TokenIdentity, Depends(require("admin"))]
Parked = Literal["refused_residency", "failed", "ignored"]


@router.get("/admin/receipts", tags=["admin"])
async def list_parked_receipts(
    request: Request,
    _: IsAdmin,
    status: Annotated[Parked, Query(description="which parked receipts")] = "refused_residency",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """Parked receipts of every region, newest first: id, region, connection, when it came in,
    and why it is parked."""
    container: Container = request.app.state.container
    found = await run_in_threadpool(
        parked_receipts, container.databases, ReceiptStatus(status), limit
    )
    return {"receipts": found}
