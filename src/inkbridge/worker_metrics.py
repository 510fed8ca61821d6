"""The metrics endpoint of a worker run on its own (``inkbridge worker`` with ``[worker]
metrics_port``): ``GET /metrics`` in the Prometheus text format, the same registry and queue
gauges as the API's ``/metrics`` (outbox backlog and oldest pending age, dead letters, worker
lag), plus what only the delivering process knows: each destination's circuit and quota left.

Served by uvicorn inside the worker's event loop, so it lives and dies with the worker; any
other path answers 404 (there is nothing else to see here)."""

from __future__ import annotations

import asyncio

import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inkbridge import metrics
from inkbridge.bootstrap import Container
from inkbridge.services.queue_gauges import QueueGauges

log = structlog.get_logger("inkbridge.worker")
CONTENT_TYPE = "text/plain; version=0.0.4"


def metrics_app(container: Container) -> Starlette:
    queues = QueueGauges(container.databases, container.destinations)

    def prometheus(_request: Request) -> Response:
        return Response(metrics.render(queues), media_type=CONTENT_TYPE)

    # Sync endpoint: the queue gauges read the databases, so Starlette runs it in a thread.
    return Starlette(routes=[Route("/metrics", prometheus, methods=["GET"])])


class MetricsServer:
    """``GET /metrics`` on ``host:port`` until ``stop``."""

    def __init__(self, container: Container, host: str, port: int) -> None:
        config = uvicorn.Config(
            metrics_app(container),
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            log_config=None,  # through logs.configure's handler and its personal-data guard
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None
        self.address = f"http://{host}:{port}/metrics"

    async def start(self) -> None:
        """Serve in the background; raise if the port cannot be bound (a worker told to expose
        metrics must not run silently without them)."""
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()  # re-raises the bind failure
                raise OSError(f"the metrics server on {self.address} stopped at start")
            await asyncio.sleep(0.01)
        log.info("worker_metrics_serving", address=self.address)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
            self._task = None
