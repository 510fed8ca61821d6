"""The console's analytics pages: overview, funnel, time to sign and attribution. Each is a GET
needing the ``read`` scope; its filters are query parameters, read here and handed to the
report services as they are (``services.reports``, ``services.console_overview``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from inkbridge.access import ADMIN
from inkbridge.errors import InvalidInput
from inkbridge.services import console_overview, sign_time_distribution
from inkbridge.services import reports as report_service
from inkbridge.services.console_sessions import ConsoleSession
from inkbridge.services.webhook_rates import WebhookRates
from inkbridge.web.console.chart import bar_chart, sparkline
from inkbridge.web.console.gate import console_page, databases, html
from inkbridge.web.console.html import (
    Raw,
    duration,
    esc,
    filter_form,
    layout,
    link,
    select_field,
    table,
    text_field,
)

MAX_TEXT = 200


def _text(request: Request, name: str) -> str | None:
    value = request.query_params.get(name, "").strip()
    if len(value) > MAX_TEXT:
        raise InvalidInput(f"at most {MAX_TEXT} characters", field=name)
    return value or None


def _day(request: Request, name: str) -> datetime | None:
    value = _text(request, name)
    if value is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(value), time(), tzinfo=UTC)
    except ValueError:
        raise InvalidInput("a date as YYYY-MM-DD", field=name) from None


def report_filter(request: Request) -> report_service.ReportFilter:
    """Campaign, channel, template and the period [from, to] (whole days, UTC)."""
    until = _day(request, "to")
    return report_service.ReportFilter(
        since=_day(request, "from"),
        until=until + timedelta(days=1) if until else None,
        campaign=_text(request, "campaign"),
        template=_text(request, "template"),
        channel=_text(request, "channel"),
    )


def filter_fields(request: Request) -> list[Raw]:
    q = request.query_params
    return [
        text_field("campaign", "Campaign", q.get("campaign")),
        text_field("channel", "Channel (medium)", q.get("channel")),
        text_field("template", "Template", q.get("template")),
        text_field("from", "From (YYYY-MM-DD)", q.get("from")),
        text_field("to", "To (YYYY-MM-DD)", q.get("to")),
    ]


def invalid(title: str, session: ConsoleSession, error: InvalidInput, current: str) -> Response:
    body = f'<p class="error" role="alert">{esc(str(error))}</p><p>{link(current, "Reset")}</p>'
    return html(layout(title, body, session, current), 422)


def webhook_rates_section(rates: WebhookRates) -> Raw:
    """Receipts per minute by connection and outcome, a sparkline per connection."""
    minutes = [m.strftime("%H:%M") for m in rates.minutes]
    window = f"{minutes[0]} to {minutes[-1]} UTC" if minutes else ""
    sparks = table(
        f"Webhooks per minute by connection, last {len(minutes)} minutes ({window})",
        ["connection", "per minute", "receipts"],
        [
            (connection, sparkline(f"{connection}, receipts per minute", counts), sum(counts))
            for connection, counts in rates.by_connection().items()
        ],
        empty=f"no receipt stored in the last {len(minutes)} minutes.",
    )
    outcomes = table(
        "Webhooks per minute by connection and outcome (the receipt's status)",
        ["connection", "outcome", *minutes, "total"],
        [(r.connection, r.outcome, *r.per_minute, r.total) for r in rates.rates],
        empty="none.",
    )
    note = (
        "<p>Counted from the receipts every region stored. Deliveries rejected before they "
        "were stored (a bad signature, a body too large) have no receipt: only the metrics "
        "count them (below, and <code>inkbridge_webhooks_total</code> at "
        "<code>/metrics</code>).</p>"
    )
    return Raw(f"<h2>Webhooks per minute</h2>{sparks}{outcomes if rates.rates else ''}{note}")


@console_page("read")
async def overview_page(request: Request, session: ConsoleSession) -> Response:
    container = request.app.state.container
    found = await run_in_threadpool(
        console_overview.overview, container.databases, container.destinations
    )
    # The dead letters' and receipts' pages need admin: a read session sees the counts only.
    operator = session.allows(ADMIN)
    figures = (
        f'<ul class="figures"><li><strong>{found.inbox_backlog}</strong>receipts waiting</li>'
        f"<li><strong>{duration(found.inbox_oldest_age_seconds)}</strong>oldest waiting "
        f"receipt</li><li><strong>{sum(d.backlog for d in found.destinations)}</strong>"
        f"changes owed to destinations</li><li><strong>{found.dead_letters}</strong>"
        "dead letters</li></ul>"
    )
    destinations = table(
        "Destinations",
        ["destination", "region", "backlog", "oldest pending", "dead letters", "circuit", "quota"],
        [
            (
                d.destination,
                d.region,
                d.backlog,
                duration(d.oldest_pending_age_seconds),
                link("/console/dead-letters", d.dead_letters, destination=d.destination)
                if d.dead_letters and operator
                else d.dead_letters,
                d.circuit,
                d.quota_remaining,
            )
            for d in found.destinations
        ],
        empty="no destination is configured.",
    )
    parked = table(
        "Parked receipts",
        ["status", "receipts"],
        [
            (link("/console/receipts", status, status=status) if operator else status, count)
            for status, count in found.parked_receipts.items()
        ],
    )
    webhooks = table(
        "Webhooks this process answered since it started, by connection and outcome",
        ["connection", "outcome", "deliveries"],
        found.webhooks,
        empty="none received by this process yet.",
    )
    body = f"{figures}{destinations}{parked}{webhook_rates_section(found.rates)}{webhooks}"
    return html(layout("Overview", body, session, "/console"))


@console_page("read")
async def funnel_page(request: Request, session: ConsoleSession) -> Response:
    current = "/console/funnel"
    try:
        chosen = report_filter(request)
    except InvalidInput as error:
        return invalid("Funnel", session, error, current)
    report = await run_in_threadpool(report_service.funnel_report, databases(request), chosen)
    steps = [r for r in report["rows"] if r["step"] is not None]
    chart = bar_chart("Leads reaching each step", [(r["stage"], r["count"]) for r in steps])
    rows = table(
        "Drop-off per step",
        ["step", "stage", "leads", "drop-off from previous %", "of captured %"],
        [
            (r["step"] or "exit", r["stage"], r["count"], r["drop_off_pct"], r["conversion_pct"])
            for r in report["rows"]
        ],
    )
    overall = report["totals"]["overall_conversion_pct"]
    body = (
        f"{filter_form(current, filter_fields(request))}{chart}{rows}"
        f"<p>Captured to completed: {esc(overall)} %</p>"
    )
    return html(layout("Funnel", body, session, current))


GROUPS = [g.value for g in report_service.GroupBy if g is not report_service.GroupBy.NONE]


@console_page("read")
async def time_to_sign_page(request: Request, session: ConsoleSession) -> Response:
    current = "/console/time-to-sign"
    group = request.query_params.get("group_by", "campaign")
    try:
        chosen = report_filter(request)
        if group not in GROUPS:
            raise InvalidInput(f"one of {GROUPS}", field="group_by")
    except InvalidInput as error:
        return invalid("Time to sign", session, error, current)
    by = report_service.GroupBy(group)
    report = await run_in_threadpool(
        report_service.time_to_sign_report, databases(request), chosen, by
    )
    buckets = await run_in_threadpool(
        sign_time_distribution.distribution, databases(request), chosen
    )
    keys = report["columns"][:-4]  # the group columns, before interval, count, p50, p90
    rows = table(
        f"p50 and p90 per {group.replace('_', ' ')}",
        [*keys, "interval", "envelopes", "p50", "p90"],
        [
            (
                *(r[k] for k in keys),
                r["interval"].replace("_", " "),
                r["count"],
                duration(r["p50_seconds"]),
                duration(r["p90_seconds"]),
            )
            for r in report["rows"]
        ],
    )
    overall = report["totals"]["sent_to_completed"]
    fields = [*filter_fields(request), select_field("group_by", "Per", GROUPS, group)]
    body = (
        f"{filter_form(current, fields)}"
        f"<p>Sent to completed, all envelopes: p50 {duration(overall['p50_seconds'])}, "
        f"p90 {duration(overall['p90_seconds'])} ({overall['count']} envelopes).</p>"
        + bar_chart(
            "Envelopes by time from sent to completed", [(b.label, b.count) for b in buckets]
        )
        + rows
        + f"<p>Percentiles: {esc(report['method'])}.</p>"
    )
    return html(layout("Time to sign", body, session, current))


MODELS = [m.value for m in report_service.Model]
CREDIT = [c.value for c in report_service.CreditBy]


@console_page("read")
async def attribution_page(request: Request, session: ConsoleSession) -> Response:
    current = "/console/attribution"
    model = request.query_params.get("model", report_service.Model.LINEAR.value)
    credit = request.query_params.get("group_by", report_service.CreditBy.CHANNEL.value)
    try:
        chosen = report_filter(request)
        if model not in MODELS:
            raise InvalidInput(f"one of {MODELS}", field="model")
        if credit not in CREDIT:
            raise InvalidInput(f"one of {CREDIT}", field="group_by")
    except InvalidInput as error:
        return invalid("Attribution", session, error, current)
    report = await run_in_threadpool(
        lambda: report_service.attribution_report(
            databases(request),
            chosen,
            models=[report_service.Model(model)],
            credit_by=report_service.CreditBy(credit),
        )
    )
    credited = [(str(r[credit] or "(none)"), float(r[model])) for r in report["rows"]]
    fields = [
        *filter_fields(request),
        select_field("model", "Model", MODELS, model),
        select_field("group_by", "Credit to", CREDIT, credit),
    ]
    body = (
        f"{filter_form(current, fields)}"
        f"<p>{report['totals']['conversions']} completed envelopes credited with the "
        f"{esc(model.replace('_', ' '))} model.</p>"
        + bar_chart(f"Signed envelopes credited per {credit}", credited)
        + table(f"Credit per {credit}", [credit, "credit"], credited)
    )
    return html(layout("Attribution", body, session, current))
