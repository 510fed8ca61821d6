"""Connector test fixtures: an HTTP client of the module's vendor emulator (its ``app``
fixture) in process, at the module's ``BASE`` URL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette


@pytest.fixture
async def client(
    request: pytest.FixtureRequest, app: Starlette
) -> AsyncIterator[httpx.AsyncClient]:
    base_url = request.module.BASE
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as http:
        yield http
