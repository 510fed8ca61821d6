"""Hostile-input fixtures: the whole application over two region databases (``default`` on
SQLite, ``eu`` on PostgreSQL), built once per module, and a client to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from inkbridge.api.app import create_app
from inkbridge.bootstrap import bootstrap
from inkbridge.services import publishable_keys
from inkbridge.services.tokens import create_token
from tests.conftest import PG_AVAILABLE, drop_pg_schema, new_pg_schema

from .support import CAPTURE_ORIGIN, Stack, _settings


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("hostile")
    schema = None
    if PG_AVAILABLE:
        schema, eu_url = new_pg_schema()
    else:
        eu_url = f"sqlite:///{tmp}/eu.db"
    container = bootstrap(_settings(tmp, eu_url), auto_migrate=True)
    _, token = create_token(container.databases, "hostile", ["admin"])
    _, capture_key = publishable_keys.create_key(
        container.databases, "hostile", [CAPTURE_ORIGIN], rate_per_minute=100_000
    )
    yield Stack(container, {"Authorization": f"Bearer {token}"}, capture_key)
    container.databases.dispose()
    if schema is not None:
        drop_pg_schema(schema)


@pytest.fixture
async def client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    front = create_app(stack.container)
    transport = httpx.ASGITransport(app=front)
    async with httpx.AsyncClient(transport=transport, base_url="http://inkbridge.test") as c:
        yield c
    front.ingest.writers.stop_all()
