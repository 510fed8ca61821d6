"""The HTTP application: `/v1` routes, the webhook hot path, operations endpoints, and (in the
sandbox) the built-in provider and destinations. Optionally runs the worker in-process."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import text

from inkbridge import __version__, metrics
from inkbridge.api import (
    admin_receipts,
    admin_verify,
    api_docs,
    capture,
    datamap,
    documents,
    golive,
    golive_connections,
    openapi,
    payload_schema,
    privacy,
    problems,
)
from inkbridge.api.access_log import AccessLog
from inkbridge.api.body_limits import BodyLimits, Limits
from inkbridge.api.registration import registration_endpoint
from inkbridge.api.routes import router
from inkbridge.api.triggers import trigger_endpoint
from inkbridge.api.webhooks import IngestFront, WebhookIngest
from inkbridge.bootstrap import Container
from inkbridge.services.queue_gauges import QueueGauges
from inkbridge.services.rate_limits import CaptureLimits
from inkbridge.store.receipt_writer import WriterPool
from inkbridge.web import console, pages, signing_link
from inkbridge.worker import Worker


def create_app(
    container: Container,
    *,
    run_worker: bool = False,
    sandbox_apps: list[tuple[str, Any, Any]] | None = None,
) -> IngestFront:
    """Build the app around a wired container. ``sandbox_apps`` are (path, ASGI app, hooks)."""
    writers = WriterPool(container.databases)
    worker = Worker(container) if run_worker else None
    mounted = sandbox_apps or []

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Everything alive now lives as long as the process (modules, tables, compiled
        # statements): freezing it keeps full collections from walking it, which otherwise
        # shows up as ~40 ms pauses in the webhook acknowledgement p99.
        gc.collect()
        gc.freeze()
        for _path, _sub, hooks in mounted:
            if hooks is not None:
                await hooks.start()
        if worker is not None:
            worker.start()
        try:
            yield
        finally:
            if worker is not None:
                await worker.stop()
            for _path, _sub, hooks in mounted:
                if hooks is not None:
                    await hooks.stop()
            writers.stop_all()

    app = FastAPI(
        title="inkbridge",
        version=__version__,
        description="E-signature as a governed step of marketing and sales workflows.",
        lifespan=lifespan,
        # Served by api_docs with local assets instead of FastAPI's CDN-backed pages.
        docs_url=None,
        redoc_url=None,
    )
    app.state.container = container
    app.state.worker = worker
    app.state.capture_limits = CaptureLimits(container.settings.capture)
    # The sandbox apps mounted here, by path: golive's control of the sandbox twins reaches them.
    app.state.sandbox_apps = {path: sub for path, sub, _hooks in mounted}
    problems.install(app)
    app.add_route(
        "/v1/webhooks/{connection}",
        registration_endpoint(container.bindings),
        methods=["GET"],
        include_in_schema=False,
    )
    app.add_route(
        "/v1/triggers/{name}",
        trigger_endpoint(container),
        methods=["POST"],
        include_in_schema=False,
    )
    app.include_router(router)
    app.include_router(admin_receipts.router)
    app.include_router(admin_verify.router)
    app.include_router(documents.router)
    app.include_router(capture.router)
    app.include_router(datamap.router)
    app.include_router(golive.router)
    app.include_router(golive_connections.router)
    app.include_router(privacy.router)
    app.include_router(payload_schema.router)
    for page in pages.ROUTES:
        app.router.routes.append(page)
    app.router.routes.extend(console.ROUTES)
    # Public: a verified signer session's one-time link (the opaque token is the credential).
    app.router.routes.extend(signing_link.ROUTES)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    def readyz() -> JSONResponse:
        regions: dict[str, str] = {}
        for db in container.databases:
            try:
                with db.reader() as conn:
                    conn.execute(text("SELECT 1"))
                regions[db.region] = "ok"
            except Exception as exc:
                regions[db.region] = type(exc).__name__
        ready = all(v == "ok" for v in regions.values())
        return JSONResponse(
            {"status": "ready" if ready else "unavailable", "regions": regions},
            status_code=200 if ready else 503,
        )

    queues = QueueGauges(container.databases, container.destinations)

    @app.get("/metrics", tags=["operations"])
    def prometheus(_request: Request) -> Response:
        return Response(metrics.render(queues), media_type="text/plain; version=0.0.4")

    for path, sub, _hooks in mounted:
        app.mount(path, sub)
    openapi.install(app)
    api_docs.install(app)
    server = container.settings.server
    limits = Limits(server.max_json_body_bytes, server.max_body_bytes, server.max_json_depth)
    # Webhook deliveries never reach the framework (see inkbridge.api.webhooks), nor the access
    # log: everything else is logged and counted by route.
    front = AccessLog(BodyLimits(app, limits), app.router.routes)
    return IngestFront(WebhookIngest(container.bindings, writers), front)
