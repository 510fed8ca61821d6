"""``GET /v1/admin/verify``: the hash chains of every region checked now (the audit log, each
envelope's event log, each lead's consent ledger), as ``inkbridge verify`` does on the host. Admin
scope, or golive (its evidence check); the answer names chains and positions, never their
content."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool

from inkbridge.access import ADMIN, GOLIVE
from inkbridge.api.auth import require
from inkbridge.bootstrap import Container
from inkbridge.services.consent import verify_consent_chains
from inkbridge.services.replay import verify_chains
from inkbridge.services.tokens import TokenIdentity

router = APIRouter(prefix="/v1")

CanVerify = Annotated[TokenIdentity, Depends(require(ADMIN, GOLIVE))]


@router.get("/admin/verify", tags=["admin"])
async def verify(request: Request, _: CanVerify) -> dict[str, Any]:
    """Every chain of every region walked: ``ok`` when none breaks, else each break with its
    chain, the position of the first entry that does not link and why."""
    container: Container = request.app.state.container
    logs = await run_in_threadpool(verify_chains, container.databases)
    ledgers = await run_in_threadpool(verify_consent_chains, container.databases)
    return {
        "ok": not logs and not ledgers,
        "regions": [db.region for db in container.databases],
        "breaks": {
            "logs": [asdict(b) for b in logs],
            "consent": [asdict(b) for b in ledgers],
        },
    }
