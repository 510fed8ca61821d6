"""The console's operations pages: dead letters with their last error, a replay button for
each and one replaying them all (``admin``, as in the API; replays audited as the signed-in
person), a lead's
consent ledger with its current status, chain status and receipt download, and the data map
(``admin``, as in the API)."""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from inkbridge.access import ADMIN, DATAMAP_SCOPE
from inkbridge.errors import NotFound
from inkbridge.services import consent as consent_service
from inkbridge.services import leads as lead_service
from inkbridge.services.admin import (
    coalescing_destinations,
    dead_letters,
    replay_dead_letter,
    replay_dead_letters,
)
from inkbridge.services.console_sessions import ConsoleSession
from inkbridge.services.datamap import data_map
from inkbridge.store import leads as lead_store
from inkbridge.web.console.gate import console_page, databases, html
from inkbridge.web.console.html import (
    Raw,
    esc,
    filter_form,
    layout,
    link,
    post_form,
    table,
    text_field,
)

REPLAYED = {"1": "The dead letter is pending again.", "0": "Nothing to replay: already done."}
MAX_DESTINATION = 100


def _notice(request: Request) -> str | None:
    replayed_all = request.query_params.get("replayed_all", "")
    if replayed_all.isdigit() and len(replayed_all) < 10:
        return f"Replayed all: {int(replayed_all)} dead letters are pending again."
    return REPLAYED.get(request.query_params.get("replayed", ""))


def _replay_all_form(session: ConsoleSession, destination: str | None) -> Raw:
    label = (
        f"Replay every dead letter of {destination} (all regions)"
        if destination
        else "Replay every dead letter of every destination (all regions)"
    )
    return Raw(
        "<h2>Replay all</h2><p>Gives every dead letter listed here, and any beyond the first "
        "500 per region, a fresh attempt budget; changes a newer delivery has overtaken are "
        "superseded instead.</p>"
        + post_form(
            "/console/dead-letters/replay-all",
            session.csrf_token,
            label,
            {"destination": destination or ""},
        )
    )


# Admin, as GET /v1/admin/dead-letters: a dead letter's record and last error are operator
# knowledge, and everyone who may see them may replay them.
@console_page(ADMIN)
async def dead_letters_page(request: Request, session: ConsoleSession) -> Response:
    current = "/console/dead-letters"
    destination = request.query_params.get("destination", "").strip()[:MAX_DESTINATION] or None
    found = await run_in_threadpool(dead_letters, databases(request), destination)
    notice = _notice(request)
    rows = table(
        "Dead letters" + (f" of {destination}" if destination else ""),
        [
            "change",
            "region",
            "destination",
            "kind",
            "record",
            "attempts",
            "last error",
            "since",
            "replay",
        ],
        [
            (
                d["id"],
                d["region"],
                d["destination"],
                d["kind"],
                d["record"],
                d["attempts"],
                d["last_error"],
                d["created_at"],
                post_form(
                    "/console/dead-letters/replay",
                    session.csrf_token,
                    f"Replay {d['id']}",
                    {"id": str(d["id"]), "region": d["region"]},
                ),
            )
            for d in found
        ],
        empty="none.",
    )
    body = (f'<p class="notice" role="status">{esc(notice)}</p>' if notice else "") + rows
    if found:
        body += _replay_all_form(session, destination)
    return html(layout("Dead letters", body, session, current))


@console_page(ADMIN)
async def replay_page(request: Request, session: ConsoleSession) -> Response:
    form = await request.form()
    raw_id, region = form.get("id"), form.get("region")
    if not isinstance(raw_id, str) or not raw_id.isdigit() or not isinstance(region, str):
        body = '<p class="error" role="alert">Name one dead letter to replay.</p>'
        return html(layout("Dead letters", body, session, "/console/dead-letters"), 422)
    container = request.app.state.container
    replayed = await run_in_threadpool(
        lambda: replay_dead_letter(
            container.databases,
            region,
            int(raw_id[:18]),
            coalescing_destinations(container.settings),
            source="console",
            actor=session.actor,
        )
    )
    target = f"/console/dead-letters?replayed={int(replayed)}"
    return RedirectResponse(target, status_code=303)


@console_page(ADMIN)
async def replay_all_page(request: Request, session: ConsoleSession) -> Response:
    form = await request.form()
    raw = form.get("destination", "")
    destination = raw.strip() if isinstance(raw, str) else None
    container = request.app.state.container
    if destination is None or (destination and destination not in container.destinations):
        body = '<p class="error" role="alert">No such destination.</p>'
        return html(layout("Dead letters", body, session, "/console/dead-letters"), 422)
    replayed = await run_in_threadpool(
        lambda: replay_dead_letters(
            container.databases,
            None,
            destination or None,
            coalescing_destinations(container.settings),
            source="console",
            actor=session.actor,
            action="replayed_all",
        )
    )
    target = f"/console/dead-letters?replayed_all={replayed}"
    return RedirectResponse(target, status_code=303)


def _lead_id(request: Request) -> str | None:
    """The lead named by id, or found by email through the blind index (newest in any region)."""
    lead_id = request.query_params.get("lead_id", "").strip()[:100]
    email = request.query_params.get("email", "").strip()[:320]
    if lead_id or not email:
        return lead_id or None
    for db in databases(request):
        with db.reader() as conn:
            found = lead_store.latest_by_email(conn, email.lower())
        if found is not None:
            return str(found["id"])
    return None


@console_page("read")
async def consent_page(request: Request, session: ConsoleSession) -> Response:
    current = "/console/consent"
    q = request.query_params
    form = filter_form(
        current,
        [
            text_field("lead_id", "Lead id", q.get("lead_id")),
            text_field("email", "Or the lead's email", q.get("email"), kind="email"),
        ],
        button="Show",
    )
    lead_id = await run_in_threadpool(_lead_id, request)
    if lead_id is None:
        asked = bool(q.get("lead_id") or q.get("email"))
        body = form + ('<p class="error" role="alert">No such lead.</p>' if asked else "")
        return html(layout("Consent", body, session, current), 404 if asked else 200)
    try:
        view = await run_in_threadpool(lead_service.lead_view, databases(request), lead_id)
    except NotFound:
        body = form + '<p class="error" role="alert">No such lead.</p>'
        return html(layout("Consent", body, session, current), 404)
    breaks = await run_in_threadpool(consent_service.verify_consent_chains, databases(request))
    broken = [b for b in breaks if b.chain.endswith(f":consent:{lead_id}")]
    chain = (
        "intact: every record links to the one before it"
        if not broken
        else "; ".join(f"broken at record {b.position}: {b.reason}" for b in broken)
    )
    status = table(
        f"Current status of lead {lead_id}",
        ["kind", "status"],
        sorted(view["consent_status"].items()),
    )
    ledger = table(
        "Ledger (append-only, oldest first)",
        ["occurred", "kind", "status", "text version", "method", "source", "jurisdiction"],
        [
            (
                c["occurred_at"],
                c["kind"],
                c["status"],
                c["text_version_id"],
                c["method"],
                c["source"],
                c["jurisdiction"],
            )
            for c in view["consents"]
        ],
    )
    receipt = link(f"/console/consent/{lead_id}/receipt", "Download the consent receipt (JSON)")
    body = f"{form}<p>Chain: {esc(chain)}</p>{status}{ledger}<p>{receipt}</p>"
    return html(layout("Consent", body, session, current))


@console_page("read")
async def consent_receipt_download(request: Request, _session: ConsoleSession) -> Response:
    lead_id = request.path_params["lead_id"]
    container = request.app.state.container
    try:
        receipt = await run_in_threadpool(
            consent_service.consent_receipt,
            container.databases,
            lead_id,
            container.settings.controller,
        )
    except NotFound:
        return Response("no such lead", status_code=404, media_type="text/plain")
    return Response(
        json.dumps(receipt, indent=2, default=str),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="consent-{lead_id}.json"'},
    )


@console_page(DATAMAP_SCOPE)
async def data_map_page(request: Request, session: ConsoleSession) -> Response:
    found = data_map(request.app.state.container.settings)
    stores = table(
        "Stores",
        ["name", "kind", "location", "regions", "holds"],
        [
            (s["name"], s["kind"], s["location"], ", ".join(s["regions"]), s.get("holds"))
            for s in found["stores"]
        ],
    )
    processors = table(
        "Processors (destinations and providers)",
        ["name", "kind", "vendor", "hosts", "regions"],
        [
            (p["name"], p["kind"], p["vendor"], ", ".join(p["hosts"]), ", ".join(p["regions"]))
            for p in found["processors"]
        ],
    )
    retention = table(
        "Retention",
        ["category", "window", "columns"],
        [(r["category"], r["window"], ", ".join(r["columns"])) for r in found["retention"]],
    )
    categories = table(
        "Personal data categories",
        ["category", "columns"],
        [
            (c["category"], ", ".join(col["column"] for col in c["columns"]))
            for c in found["categories"]
            if c["category"].startswith("user.")
        ],
    )
    body = (
        f"<p>Regions: {esc(', '.join(found['regions']))} (home: {esc(found['home_region'])})."
        f"</p>{stores}{processors}{categories}{retention}"
    )
    return html(layout("Data map", body, session, "/console/data-map"))
