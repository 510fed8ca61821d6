"""The inkbridge side of the ingest benchmark: the webhook ingest app over a fresh SQLite file.

uvicorn imports ``ingest_app:app``. The benchmark driver passes the database URL and the
connection secret in the environment; the database is migrated here, before serving.
A ``/metrics`` route is added so the driver can read group-commit batch sizes after the run; it
is not on the measured path.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import SecretStr

from inkbridge import metrics
from inkbridge.api.webhooks import build_ingest_app, respond
from inkbridge.providers.registry import ConnectionBinding
from inkbridge.providers.standard_webhooks.adapter import StandardWebhooksAdapter
from inkbridge.store.database import Databases
from inkbridge.store.migrate import upgrade_all
from inkbridge.store.receipt_writer import WriterPool

CONNECTION = "bench"

databases = Databases({"default": os.environ["INKBRIDGE_BENCH_DATABASE_URL"]}, "default")
upgrade_all(databases)

bindings = {
    CONNECTION: ConnectionBinding(
        name=CONNECTION,
        region="default",
        provider="standard_webhooks",
        adapter=StandardWebhooksAdapter(
            [SecretStr(os.environ["INKBRIDGE_BENCH_SECRET"])], provider="standard_webhooks"
        ),
        max_body_bytes=1_048_576,
    )
}


ingest = build_ingest_app(bindings, WriterPool(databases))


async def app(scope: Any, receive: Any, send: Any) -> None:
    """The ingest app, plus ``GET /metrics`` answered before it."""
    if scope["type"] == "http" and scope["path"] == "/metrics":
        await respond(send, 200, metrics.render(), "text/plain; version=0.0.4")
    else:
        await ingest(scope, receive, send)
