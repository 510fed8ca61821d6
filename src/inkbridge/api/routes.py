"""The `/v1` routes: thin — parse, call a service, return. Errors map in api.problems."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from inkbridge.api.auth import require
from inkbridge.api.schemas import (
    AnonymousTouchIn,
    ConsentRecordIn,
    ConsentTextIn,
    EnvelopeIn,
    LeadIn,
    LeadUpdateIn,
    ReplayIn,
    SigningSessionIn,
    TouchpointIn,
)
from inkbridge.bootstrap import Container
from inkbridge.services import consent as consent_service
from inkbridge.services import envelopes as envelope_service
from inkbridge.services import leads as lead_service
from inkbridge.services.admin import dead_letters, replay_dead_letters
from inkbridge.services.leads import ConsentInput
from inkbridge.services.reconcile import reconcile_once
from inkbridge.services.tokens import TokenIdentity
from inkbridge.services.trace import trace

router = APIRouter(prefix="/v1")

CanRead = Annotated[TokenIdentity, Depends(require("read"))]
CanWriteLeads = Annotated[TokenIdentity, Depends(require("leads:write"))]
CanWriteEnvelopes = Annotated[TokenIdentity, Depends(require("envelopes:write"))]
IsAdmin = Annotated[TokenIdentity, Depends(require("admin"))]


def _container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


@router.post("/leads", status_code=201, tags=["leads"])
def capture_lead(body: LeadIn, request: Request, _: CanWriteLeads) -> JSONResponse:
    """Capture a lead with its attribution, touchpoints and consent records."""
    container = _container(request)
    ip = request.client.host if request.client else None
    capture = body.to_capture(ip, request.headers.get("user-agent"))
    lead_id = lead_service.capture_lead(
        container.databases, capture, destinations=container.destinations
    )
    view = lead_service.lead_view(container.databases, lead_id)
    return JSONResponse(view, status_code=201, headers={"Location": f"/v1/leads/{lead_id}"})


@router.post("/touchpoints", status_code=202, tags=["leads"])
def capture_touchpoint(body: AnonymousTouchIn, request: Request) -> dict[str, str]:
    """Public: the capture snippet records an anonymous visitor's touch (UTM, click ids,
    referrer, landing page). It stitches to the lead by anonymous id when the visitor converts."""
    touch = TouchpointIn(**body.model_dump(exclude={"anonymous_id"})).to_domain(datetime.now(UTC))
    lead_service.record_touchpoint(_container(request).databases, body.anonymous_id, touch)
    return {"status": "accepted"}


@router.get("/leads/{lead_id}", tags=["leads"])
def get_lead(lead_id: str, request: Request, _: CanRead) -> dict[str, Any]:
    return lead_service.lead_view(_container(request).databases, lead_id)


@router.patch("/leads/{lead_id}", tags=["leads"])
def update_lead(
    lead_id: str, body: LeadUpdateIn, request: Request, _: CanWriteLeads
) -> dict[str, Any]:
    """Change owner, names or company; first-touch attribution can never change."""
    container = _container(request)
    lead_service.update_lead(
        container.databases,
        lead_id,
        body.model_dump(exclude_unset=True),
        destinations=container.destinations,
    )
    return lead_service.lead_view(container.databases, lead_id)


@router.get("/consents", tags=["consent"])
def get_consents(request: Request, _: CanRead, lead_id: Annotated[str, Query()]) -> dict[str, Any]:
    """The consent ledger of a lead and its current status per kind (a projection)."""
    view = lead_service.lead_view(_container(request).databases, lead_id)
    return {"lead_id": lead_id, "ledger": view["consents"], "status": view["consent_status"]}


@router.post("/consents", status_code=201, tags=["consent"])
def append_consent(body: ConsentRecordIn, request: Request, _: CanWriteLeads) -> dict[str, Any]:
    """Append a grant, denial or withdrawal. Records are never changed or deleted."""
    container = _container(request)
    return consent_service.record_consent(
        container.databases,
        body.lead_id,
        ConsentInput(**body.model_dump(exclude={"lead_id"})),
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        destinations=container.destinations,
    )


@router.get("/consents/{lead_id}/receipt", tags=["consent"])
def consent_receipt(lead_id: str, request: Request, _: CanRead) -> dict[str, Any]:
    """A consent receipt (Kantara CR v1.1 fields, ISO/IEC TS 27560 records) for a lead."""
    container = _container(request)
    return consent_service.consent_receipt(
        container.databases, lead_id, container.settings.controller
    )


@router.post("/consent-texts", status_code=201, tags=["consent"])
def register_consent_text(body: ConsentTextIn, request: Request, _: IsAdmin) -> dict[str, Any]:
    """Register the exact text shown for a kind of consent: a version id and its SHA-256."""
    return consent_service.register_text(_container(request).databases, **body.model_dump())


@router.get("/consent-texts/{version_id}", tags=["consent"])
def get_consent_text(version_id: str, request: Request, _: CanRead) -> dict[str, Any]:
    return consent_service.get_text(_container(request).databases, version_id)


@router.post("/envelopes", status_code=201, tags=["envelopes"])
async def create_envelope(body: EnvelopeIn, request: Request, _: CanWriteEnvelopes) -> JSONResponse:
    """Create and send an envelope from a lead and a template key."""
    view = await envelope_service.create_envelope(
        _container(request),
        lead_id=body.lead_id,
        template_key=body.template_key,
        connection=body.connection,
        merge_fields=body.merge_fields,
    )
    return JSONResponse(view, status_code=201, headers={"Location": f"/v1/envelopes/{view['id']}"})


@router.get("/envelopes", tags=["envelopes"])
def find_envelopes(
    request: Request,
    provider_envelope_id: Annotated[str, Query()],
    _: CanRead,
) -> dict[str, Any]:
    return {
        "envelopes": envelope_service.find_by_provider_id(_container(request), provider_envelope_id)
    }


@router.get("/envelopes/{envelope_id}", tags=["envelopes"])
def get_envelope(envelope_id: str, request: Request, _: CanRead) -> dict[str, Any]:
    """The envelope with its recipients, timeline of events and deliveries."""
    return envelope_service.envelope_view(_container(request), envelope_id)


@router.post("/envelopes/{envelope_id}/signing-session", tags=["envelopes"])
async def signing_session(
    envelope_id: str,
    body: SigningSessionIn,
    request: Request,
    _: CanWriteEnvelopes,
) -> dict[str, Any]:
    return await envelope_service.signing_session(
        _container(request), envelope_id, recipient_id=body.recipient_id, return_url=body.return_url
    )


@router.get("/trace/{correlation_id}", tags=["trace"])
def get_trace(correlation_id: str, request: Request, _: CanRead) -> dict[str, Any]:
    """Campaign → lead → envelope → receipts → transitions → deliveries."""
    return trace(_container(request).databases, correlation_id)


@router.get("/admin/dead-letters", tags=["admin"])
def list_dead_letters(
    request: Request,
    _: IsAdmin,
    destination: str | None = None,
) -> dict[str, Any]:
    return {"dead_letters": dead_letters(_container(request).databases, destination)}


@router.post("/admin/dead-letters/replay", tags=["admin"])
async def replay(body: ReplayIn, request: Request, _: IsAdmin) -> dict[str, Any]:
    count = await run_in_threadpool(
        replay_dead_letters, _container(request).databases, body.ids, body.destination
    )
    return {"replayed": count}


@router.post("/admin/reconcile", tags=["admin"])
async def reconcile_now(request: Request, _: IsAdmin) -> dict[str, Any]:
    """Check stale, conflicting and drop-prone envelopes against their provider now."""
    container = _container(request)
    results = {}
    for db in container.databases:
        result = await reconcile_once(container, db, limit=500)
        results[db.region] = {
            "checked": result.checked,
            "reported": result.reported,
            "failed": result.failed,
        }
    worker = request.app.state.worker
    if worker is not None:
        worker.wake()
    return {"regions": results}
