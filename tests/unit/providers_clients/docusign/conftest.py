"""DocuSign client fixtures: the emulator in process, an HTTP client to it and a DocuSignClient."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from .support import HOST, Rig, create_emulator, make_client


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    app = create_emulator()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=HOST) as http:
        yield Rig(app, app.state.emulator, http, make_client(http))
