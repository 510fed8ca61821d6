"""Sandbox CRM fixtures: the emulator app and an HTTP client to it, in process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from inkbridge.sandbox.crm import create_crm_app

from .support import crm_client


@pytest.fixture
def crm_app() -> Starlette:
    return create_crm_app(None)


@pytest.fixture
async def crm(crm_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with crm_client(crm_app) as client:
        yield client
