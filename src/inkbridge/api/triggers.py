"""``POST /v1/triggers/{name}``: inbound CRM triggers (a deal reached a stage), verified with the
CRM's own signature scheme and kept as receipts; the worker creates the envelope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from inkbridge.bootstrap import Container
from inkbridge.errors import MalformedPayload, SignatureInvalid

log = structlog.get_logger("inkbridge.triggers")
PROBLEM = "application/problem+json"
MAX_BODY = 1_048_576


def _problem(status: int, title: str) -> Response:
    body = {"type": "about:blank", "title": title, "status": status}
    return JSONResponse(body, status, media_type=PROBLEM)


def trigger_endpoint(container: Container) -> Callable[[Request], Awaitable[Response]]:
    async def receive_trigger(request: Request) -> Response:
        name = request.path_params["name"]
        trigger = container.settings.triggers.get(name)
        if trigger is None:
            return _problem(404, "no trigger of that name is configured")
        body = await request.body()
        if len(body) > MAX_BODY:
            return _problem(413, "body too large")
        headers = {k.lower(): v for k, v in request.headers.items()}
        # HubSpot signs the URI it called: the public URL when one is configured.
        uri = container.settings.server.base_url + request.url.path
        if request.url.query:
            uri += "?" + request.url.query
        try:
            queued = await run_in_threadpool(
                container.services.triggers.intake,
                name,
                trigger,
                method="POST",
                uri=uri,
                headers=headers,
                body=body,
            )
        except SignatureInvalid as exc:
            log.warning("trigger_rejected", trigger=name, reason=exc.reason)
            return _problem(401, "signature verification failed")
        except MalformedPayload as exc:
            return _problem(400, exc.reason)
        worker = getattr(request.app.state, "worker", None)
        if worker is not None and queued:
            worker.wake()
        return JSONResponse({"queued": queued})

    return receive_trigger
