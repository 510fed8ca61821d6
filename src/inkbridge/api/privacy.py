"""The privacy routes: erasing a lead (GDPR Art. 17). Thin: parse, call the erasure service,
return; they take the ``privacy`` scope (or ``admin``). A ``golive`` token may erase the go-live
test leads only (``services.golive_namespace``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from inkbridge.access import GOLIVE
from inkbridge.api.auth import require
from inkbridge.bootstrap import Container
from inkbridge.services import erasure as erasure_service
from inkbridge.services.golive_namespace import erase_test_lead
from inkbridge.services.tokens import TokenIdentity

router = APIRouter(prefix="/v1")

CanErase = Annotated[TokenIdentity, Depends(require("privacy", GOLIVE))]


@router.post("/leads/{lead_id}/erasure", status_code=202, tags=["privacy"])
def erase_lead(lead_id: str, request: Request, identity: CanErase) -> JSONResponse:
    """Erase a lead: its personal data is destroyed and every destination that may hold it is
    asked to delete it. 202 when accepted; 200 with the same erasure when it already was."""
    container: Container = request.app.state.container
    erase = erasure_service.erase_lead if identity.allows("privacy") else erase_test_lead
    erasure = erase(
        container.databases,
        lead_id,
        destinations=container.destinations,
        actor=identity.actor,
    )
    return JSONResponse(
        erasure.view(),
        status_code=202 if erasure.created else 200,
        headers={"Location": f"/v1/leads/{lead_id}/erasure"},
    )


@router.get("/leads/{lead_id}/erasure", tags=["privacy"])
def get_erasure(lead_id: str, request: Request, _: CanErase) -> JSONResponse:
    """The lead's erasure; 404 when the lead is unknown or was not erased."""
    container: Container = request.app.state.container
    return JSONResponse(erasure_service.find_erasure(container.databases, lead_id).view())
