"""The console's envelope pages: the search (by id, provider id, campaign or a signer's email,
a page at a time), one envelope with its timeline and its whole trace, and the receipts parked
as refused, ignored or failed with their reason. GETs needing the ``read`` scope; the parked
receipts name no person and carry no body, as in ``GET /v1/admin/receipts``."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from inkbridge.access import ADMIN
from inkbridge.domain.queue_states import ReceiptStatus
from inkbridge.errors import NotFound
from inkbridge.services.admin import parked_receipts
from inkbridge.services.console_sessions import ConsoleSession
from inkbridge.services.envelope_search import EnvelopeQuery, search_envelopes
from inkbridge.services.trace import trace
from inkbridge.web.console.gate import console_page, databases, html
from inkbridge.web.console.html import (
    esc,
    filter_form,
    layout,
    link,
    select_field,
    table,
    text_field,
)

MAX_TEXT = 320
PARKED = [
    ReceiptStatus.REFUSED_RESIDENCY.value,
    ReceiptStatus.IGNORED.value,
    ReceiptStatus.FAILED.value,
]


def _param(request: Request, name: str) -> str | None:
    value = request.query_params.get(name, "").strip()
    return value[:MAX_TEXT] or None


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < len(raw) < 4 else 1


@console_page("read")
async def envelopes_page(request: Request, session: ConsoleSession) -> Response:
    current = "/console/envelopes"
    query = EnvelopeQuery(
        envelope_id=_param(request, "id"),
        provider_envelope_id=_param(request, "provider_id"),
        campaign=_param(request, "campaign"),
        email=_param(request, "email"),
        page=_page_number(request),
    )
    found = await run_in_threadpool(search_envelopes, databases(request), query)
    form = filter_form(
        current,
        [
            text_field("id", "Envelope id", query.envelope_id),
            text_field("provider_id", "Provider envelope id", query.provider_envelope_id),
            text_field("campaign", "Campaign", query.campaign),
            text_field("email", "Signer's email", query.email, kind="email"),
        ],
        button="Search",
    )
    rows = table(
        f"Envelopes, page {found.page}",
        ["envelope", "state", "template", "campaign", "provider", "region", "updated"],
        [
            (
                link(f"/console/envelopes/{e.id}", e.id),
                e.state,
                e.template_key,
                e.campaign,
                e.provider,
                e.region,
                e.updated_at,
            )
            for e in found.envelopes
        ],
        empty="no envelope matches.",
    )
    keep = {
        "id": query.envelope_id,
        "provider_id": query.provider_envelope_id,
        "campaign": query.campaign,
        "email": query.email,
    }
    pager = []
    if found.page > 1:
        pager.append(link(current, "Previous page", **keep, page=found.page - 1))
    if found.has_next:
        pager.append(link(current, "Next page", **keep, page=found.page + 1))
    nav = f'<nav aria-label="Pages"><p>{" · ".join(pager)}</p></nav>' if pager else ""
    return html(layout("Envelopes", f"{form}{rows}{nav}", session, current))


def _trace_sections(found: dict[str, Any]) -> str:
    campaign = found.get("campaign") or {}
    lead = found.get("lead") or {}
    parts = [
        "<h2>Trace</h2>",
        table(
            "Campaign and lead",
            ["correlation id", "campaign", "source", "medium", "lead", "lead created"],
            [
                (
                    found["correlation_id"],
                    campaign.get("utm_campaign"),
                    campaign.get("utm_source"),
                    campaign.get("utm_medium"),
                    lead.get("id"),
                    lead.get("created_at"),
                )
            ],
        ),
        table(
            "Receipts",
            ["receipt", "connection", "source", "received", "status"],
            [
                (r["id"], r["connection"], r["source"], r["received_at"], r["status"])
                for r in found["receipts"]
            ],
        ),
        table(
            "Transitions",
            ["envelope", "event", "outcome", "from", "to", "occurred", "receipt"],
            [
                (
                    t["envelope_id"],
                    t["event_type"],
                    t["outcome"],
                    t["from_state"],
                    t["to_state"],
                    t["occurred_at"],
                    t["receipt_id"],
                )
                for t in found["transitions"]
            ],
        ),
        table(
            "Deliveries",
            ["change", "destination", "fact", "status", "attempts"],
            [
                (
                    d["outbox_id"],
                    d["destination"],
                    d["fact"],
                    d["status"],
                    "; ".join(
                        f"#{a['attempt']} {a['outcome']}"
                        + (f": {a['error']}" if a["error"] else "")
                        for a in d["attempts"]
                    ),
                )
                for d in found["deliveries"]
            ],
        ),
    ]
    return "".join(parts)


@console_page("read")
async def envelope_page(request: Request, session: ConsoleSession) -> Response:
    envelope_id = request.path_params["envelope_id"]
    envelopes = request.app.state.container.services.envelopes
    try:
        view = await run_in_threadpool(envelopes.envelope_view, envelope_id)
        found = await run_in_threadpool(trace, databases(request), view["correlation_id"])
    except NotFound:
        body = f'<p class="error" role="alert">No envelope {esc(envelope_id)}.</p>'
        return html(layout("Envelope", body, session, "/console/envelopes"), 404)
    summary = table(
        "Envelope",
        ["field", "value"],
        [
            (name.replace("_", " "), view[name])
            for name in (
                "id",
                "state",
                "region",
                "provider",
                "provider_envelope_id",
                "template_key",
                "template_version",
                "lead_id",
                "created_at",
                "updated_at",
            )
        ],
    )
    recipients = table(
        "Recipients",
        ["recipient", "status", "updated"],
        [(r["recipient_id"], r["status"], r["updated_at"]) for r in view["recipients"]],
    )
    timeline = table(
        "Timeline",
        ["#", "event", "vendor event", "recipient", "occurred", "outcome", "from", "to"],
        [
            (
                e["seq"],
                e["event_type"],
                e["vendor_event"],
                e["recipient_id"],
                e["occurred_at"],
                e["outcome"],
                e["from_state"],
                e["to_state"],
            )
            for e in view["timeline"]
        ],
    )
    body = f"{summary}{recipients}{timeline}{_trace_sections(found)}"
    return html(layout(f"Envelope {envelope_id}", body, session, "/console/envelopes"))


# Receipts name connections, sources and parking reasons: operator knowledge, admin as
# GET /v1/admin/receipts.
@console_page(ADMIN)
async def receipts_page(request: Request, session: ConsoleSession) -> Response:
    current = "/console/receipts"
    status = request.query_params.get("status", ReceiptStatus.IGNORED.value)
    if status not in PARKED:
        status = ReceiptStatus.IGNORED.value
    found = await run_in_threadpool(parked_receipts, databases(request), ReceiptStatus(status), 200)
    form = filter_form(current, [select_field("status", "Status", PARKED, status)], "Show")
    rows = table(
        f"Receipts {status.replace('_', ' ')} (newest 200)",
        ["receipt", "region", "connection", "source", "received", "processed", "reason"],
        [
            (
                r["id"],
                r["region"],
                r["connection"],
                r["source"],
                r["received_at"],
                r["processed_at"],
                r["reason"],
            )
            for r in found
        ],
        empty="none.",
    )
    return html(layout("Receipts", f"{form}{rows}", session, current))
