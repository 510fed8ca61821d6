"""The console: server-rendered pages for operators, RevOps and compliance, under ``/console``.

Signed in by session cookie (``gate``, ``sign_in``); the analytics pages (``report_pages``),
the envelope pages (``envelope_pages``) and the operations pages (``operations_pages``) call
the services and render plain, accessible HTML with inline SVG charts; nothing loads from
anywhere but inkbridge itself."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inkbridge.access import declare, public
from inkbridge.web.console import (
    envelope_pages,
    oidc_sign_in,
    operations_pages,
    report_pages,
    sign_in,
)
from inkbridge.web.console.html import CSS, CSS_PATH


async def stylesheet(_request: Request) -> Response:
    return Response(CSS, media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


declare(stylesheet, public("the console's stylesheet"))

ROUTES = [
    Route(CSS_PATH, stylesheet, methods=["GET"]),
    Route("/console/sign-in", sign_in.sign_in_form, methods=["GET"]),
    Route("/console/sign-in", sign_in.sign_in, methods=["POST"]),
    Route("/console/sign-out", sign_in.sign_out, methods=["POST"]),
    Route(oidc_sign_in.START_PATH, oidc_sign_in.start_sign_in, methods=["GET"]),
    Route("/console/oidc/callback", oidc_sign_in.callback, methods=["GET"]),
    Route("/console", report_pages.overview_page, methods=["GET"]),
    Route("/console/funnel", report_pages.funnel_page, methods=["GET"]),
    Route("/console/time-to-sign", report_pages.time_to_sign_page, methods=["GET"]),
    Route("/console/attribution", report_pages.attribution_page, methods=["GET"]),
    Route("/console/envelopes", envelope_pages.envelopes_page, methods=["GET"]),
    Route("/console/envelopes/{envelope_id}", envelope_pages.envelope_page, methods=["GET"]),
    Route("/console/receipts", envelope_pages.receipts_page, methods=["GET"]),
    Route("/console/dead-letters", operations_pages.dead_letters_page, methods=["GET"]),
    Route("/console/dead-letters/replay", operations_pages.replay_page, methods=["POST"]),
    Route("/console/dead-letters/replay-all", operations_pages.replay_all_page, methods=["POST"]),
    Route("/console/consent", operations_pages.consent_page, methods=["GET"]),
    Route(
        "/console/consent/{lead_id}/receipt",
        operations_pages.consent_receipt_download,
        methods=["GET"],
    ),
    Route("/console/data-map", operations_pages.data_map_page, methods=["GET"]),
]
