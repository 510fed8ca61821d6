"""Webhook hot path fixtures: the ingest app over migrated databases, with an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from inkbridge.api.webhooks import build_ingest_app
from inkbridge.store.database import Databases
from inkbridge.store.receipt_writer import WriterPool

from .support import CONNECTION, Ingest, binding


@pytest.fixture
async def ingest(databases: Databases) -> AsyncIterator[Ingest]:
    writers = WriterPool(databases)
    app = build_ingest_app({CONNECTION: binding()}, writers)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://inkbridge.test") as client:
        yield Ingest(client, databases.home)
    writers.stop_all()
