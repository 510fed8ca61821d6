"""The `/v1` routes: thin — parse, call a service, return. Errors map in api.problems."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from inkbridge.access import GOLIVE
from inkbridge.api.auth import require
from inkbridge.api.schemas import (
    ConsentRecordIn,
    ConsentTextIn,
    EnvelopeIn,
    LeadIn,
    LeadUpdateIn,
    ReplayIn,
    SigningSessionIn,
    SigningSessionOut,
)
from inkbridge.bootstrap import Container
from inkbridge.services import consent as consent_service
from inkbridge.services import leads as lead_service
from inkbridge.services import report_format
from inkbridge.services import reports as report_service
from inkbridge.services.admin import (
    coalescing_destinations,
    dead_letters,
    reconcile_now,
    replay_dead_letters,
)
from inkbridge.services.leads import ConsentInput
from inkbridge.services.tokens import TokenIdentity
from inkbridge.services.trace import trace

router = APIRouter(prefix="/v1")

CanRead = Annotated[TokenIdentity, Depends(require("read"))]
CanWriteLeads = Annotated[TokenIdentity, Depends(require("leads:write"))]
CanWriteEnvelopes = Annotated[TokenIdentity, Depends(require("envelopes:write"))]
IsAdmin = Annotated[TokenIdentity, Depends(require("admin"))]
# The routes the go-live checks call: their test leads and envelopes, and what they read back.
GoLiveRead = Annotated[TokenIdentity, Depends(require("read", GOLIVE))]
GoLiveWriteLeads = Annotated[TokenIdentity, Depends(require("leads:write", GOLIVE))]


def _container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


@router.post("/leads", status_code=201, tags=["leads"])
def capture_lead(body: LeadIn, request: Request, _: GoLiveWriteLeads) -> JSONResponse:
    """Capture a lead with its attribution, touchpoints and consent records."""
    container = _container(request)
    ip = request.client.host if request.client else None
    capture = body.to_capture(ip, request.headers.get("user-agent"))
    lead_id = lead_service.capture_lead(
        container.databases,
        capture,
        destinations=container.destinations,
        clock_skew=timedelta(seconds=container.settings.capture.clock_skew_seconds),
        residency=container.settings.residency,
    )
    view = lead_service.lead_view(container.databases, lead_id)
    return JSONResponse(view, status_code=201, headers={"Location": f"/v1/leads/{lead_id}"})


@router.get("/leads/{lead_id}", tags=["leads"])
def get_lead(lead_id: str, request: Request, _: GoLiveRead) -> dict[str, Any]:
    return lead_service.lead_view(_container(request).databases, lead_id)


@router.patch("/leads/{lead_id}", tags=["leads"])
def update_lead(
    lead_id: str, body: LeadUpdateIn, request: Request, _: GoLiveWriteLeads
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
def get_consents(
    request: Request, _: GoLiveRead, lead_id: Annotated[str, Query(max_length=100)]
) -> dict[str, Any]:
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
def consent_receipt(lead_id: str, request: Request, _: GoLiveRead) -> dict[str, Any]:
    """A consent receipt (Kantara CR v1.1 fields, ISO/IEC TS 27560 records) for a lead."""
    container = _container(request)
    return consent_service.consent_receipt(
        container.databases, lead_id, container.settings.controller
    )


@router.post("/consent-texts", status_code=201, tags=["consent"])
def register_consent_text(body: ConsentTextIn, request: Request, admin: IsAdmin) -> dict[str, Any]:
    """Register the exact text shown for a kind of consent: a version id and its SHA-256."""
    return consent_service.register_text(
        _container(request).databases, **body.model_dump(), actor=admin.actor
    )


@router.get("/consent-texts/{version_id}", tags=["consent"])
def get_consent_text(version_id: str, request: Request, _: CanRead) -> dict[str, Any]:
    return consent_service.get_text(_container(request).databases, version_id)


@router.post("/envelopes", status_code=201, tags=["envelopes"])
async def create_envelope(body: EnvelopeIn, request: Request, _: CanWriteEnvelopes) -> JSONResponse:
    """Create and send an envelope from a lead and a template key."""
    view = await _container(request).services.envelopes.create_envelope(
        lead_id=body.lead_id,
        template_key=body.template_key,
        connection=body.connection,
        merge_fields=body.merge_fields,
    )
    return JSONResponse(view, status_code=201, headers={"Location": f"/v1/envelopes/{view['id']}"})


@router.get("/envelopes", tags=["envelopes"])
def find_envelopes(
    request: Request,
    _: GoLiveRead,
    provider_envelope_id: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Envelopes by provider envelope id, or the most recent ones (summaries)."""
    container = _container(request)
    if provider_envelope_id is not None:
        return {"envelopes": container.services.envelopes.find_by_provider_id(provider_envelope_id)}
    return {"envelopes": container.services.envelopes.recent(limit)}


@router.get("/envelopes/{envelope_id}", tags=["envelopes"])
def get_envelope(envelope_id: str, request: Request, _: GoLiveRead) -> dict[str, Any]:
    """The envelope with its recipients, timeline of events and deliveries."""
    return _container(request).services.envelopes.envelope_view(envelope_id)


_PROBLEM_JSON: dict[str, Any] = {"application/problem+json": {}}


@router.post(
    "/envelopes/{envelope_id}/signing-session",
    tags=["envelopes"],
    responses={
        403: {"description": "the email does not match the recipient", "content": _PROBLEM_JSON},
        404: {"description": "no such envelope or recipient", "content": _PROBLEM_JSON},
        409: {"description": "the envelope is finished or not sent yet", "content": _PROBLEM_JSON},
        422: {
            "description": "invalid body, stale or future authentication, return_url off the "
            "allow-list",
            "content": _PROBLEM_JSON,
        },
    },
)
async def signing_session(
    envelope_id: str,
    body: SigningSessionIn,
    request: Request,
    identity: CanWriteEnvelopes,
) -> SigningSessionOut:
    """A verified signer session: a one-time, short-lived ``/sign/{opaque}`` link for a signer
    the caller authenticated. The provider's own signing URL is only asked for when the link
    is opened, and never shown here."""
    issued = await run_in_threadpool(
        _container(request).services.signer_sessions.issue_session,
        envelope_id,
        body.to_request(),
        token_id=identity.token_id,
    )
    return SigningSessionOut(
        url=issued.url, expires_at=issued.expires_at, session_id=issued.session_id
    )


@router.get("/trace/{correlation_id}", tags=["trace"])
def get_trace(correlation_id: str, request: Request, _: GoLiveRead) -> dict[str, Any]:
    """Campaign → lead → envelope → receipts → transitions → deliveries."""
    return trace(_container(request).databases, correlation_id)


@router.get("/admin/dead-letters", tags=["admin"])
def list_dead_letters(
    request: Request,
    _: IsAdmin,
    destination: Annotated[str | None, Query(max_length=100)] = None,
) -> dict[str, Any]:
    return {"dead_letters": dead_letters(_container(request).databases, destination)}


@router.post("/admin/dead-letters/replay", tags=["admin"])
async def replay(body: ReplayIn, request: Request, admin: IsAdmin) -> dict[str, Any]:
    count = await run_in_threadpool(
        partial(replay_dead_letters, actor=admin.actor, region=body.region),
        _container(request).databases,
        body.ids,
        body.destination,
        coalescing_destinations(_container(request).settings),
    )
    return {"replayed": count}


@router.post("/admin/reconcile", tags=["admin"])
async def reconcile(request: Request, admin: IsAdmin) -> dict[str, Any]:
    """Check stale, conflicting and drop-prone envelopes against their provider now."""
    container = _container(request)
    results = await reconcile_now(
        container.databases,
        container.services.reconciler,
        source="api",
        actor=admin.actor,
        limit=500,
    )
    worker = request.app.state.worker
    if worker is not None:
        worker.wake()
    return {"regions": {region: asdict(result) for region, result in results.items()}}


# --- reports --------------------------------------------------------------------------------
# Sync routes: FastAPI runs them in its threadpool, so a long aggregation never blocks the loop.

ReportFormat = Annotated[
    Literal["json", "csv"] | None,
    Query(alias="format", description="csv, or json (default); Accept: text/csv works too"),
]
Since = Annotated[datetime | None, Query(description="cohort: leads created at or after")]
Until = Annotated[datetime | None, Query(description="cohort: leads created before")]
Campaign = Annotated[str | None, Query(max_length=200, description="first-touch campaign")]
Template = Annotated[str | None, Query(max_length=100, description="envelope template key")]
Channel = Annotated[
    str | None, Query(max_length=200, description="first-touch channel (utm_medium)")
]
STITCH_WINDOW_DAYS = report_service.DEFAULT_STITCH_WINDOW.total_seconds() / 86400


def _as_utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def _report_filter(
    since: Since = None,
    until: Until = None,
    campaign: Campaign = None,
    template: Template = None,
    channel: Channel = None,
) -> report_service.ReportFilter:
    """The cohort and envelope filter every report takes, read from the query string."""
    return report_service.ReportFilter(
        since=_as_utc(since),
        until=_as_utc(until),
        campaign=campaign,
        template=template,
        channel=channel,
    )


ReportQuery = Annotated[report_service.ReportFilter, Depends(_report_filter)]


def _report_answer(report: dict[str, Any], request: Request, fmt: str | None) -> Response:
    accept = request.headers.get("accept", "")
    if fmt == "csv" or (fmt is None and "text/csv" in accept):
        return Response(
            report_format.to_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{report["report"]}.csv"'},
        )
    return JSONResponse(report)


@router.get("/reports/funnel", tags=["reports"])
def report_funnel(
    request: Request,
    _: CanRead,
    report_filter: ReportQuery,
    fmt: ReportFormat = None,
) -> Response:
    """Leads captured → qualified → sent → viewed → signed → completed, with drop-off."""
    report = report_service.funnel_report(_container(request).databases, report_filter)
    return _report_answer(report, request, fmt)


@router.get("/reports/time-to-sign", tags=["reports"])
def report_time_to_sign(
    request: Request,
    _: CanRead,
    report_filter: ReportQuery,
    group_by: report_service.GroupBy = report_service.GroupBy.NONE,
    fmt: ReportFormat = None,
) -> Response:
    """p50 and p90 of each signing interval, per group and overall."""
    report = report_service.time_to_sign_report(
        _container(request).databases,
        report_filter,
        group_by=group_by,
    )
    return _report_answer(report, request, fmt)


@router.get("/reports/attribution", tags=["reports"])
def report_attribution(
    request: Request,
    _: GoLiveRead,
    report_filter: ReportQuery,
    model: Annotated[list[report_service.Model] | None, Query()] = None,
    group_by: report_service.CreditBy = report_service.CreditBy.CHANNEL,
    half_life_days: Annotated[
        float, Query(gt=0, le=36_500)
    ] = report_service.DEFAULT_HALF_LIFE_DAYS,
    stitch_window_days: Annotated[float, Query(gt=0, le=36_500)] = STITCH_WINDOW_DAYS,
    fmt: ReportFormat = None,
) -> Response:
    """Completed envelopes credited to channels, campaigns or sources under each model
    (repeat ``model`` to choose; all six by default)."""
    report = report_service.attribution_report(
        _container(request).databases,
        report_filter,
        models=model or list(report_service.Model),
        credit_by=group_by,
        half_life_days=half_life_days,
        stitch_window=timedelta(days=stitch_window_days),
    )
    return _report_answer(report, request, fmt)
