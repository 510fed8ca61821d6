"""Connector test fixtures: an HTTP client of the vendor emulator (the ``app`` fixture) in
process, at the vendor's URL (``base_url``: the module's ``BASE``, or what a vendor folder's
conftest says)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette


@pytest.fixture
def base_url(request: pytest.FixtureRequest) -> str:
    base: str = request.module.BASE
    return base


@pytest.fixture
async def client(base_url: str, app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as http:
        yield http
