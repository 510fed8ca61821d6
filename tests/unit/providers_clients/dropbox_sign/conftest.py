"""Dropbox Sign client fixtures: the emulator in process, an HTTP client to it and a
DropboxSignClient."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from inkbridge_emulators.dropbox_sign import create_dropbox_sign_emulator

from .support import (
    API_KEY,
    CLIENT_ID,
    HAVE_VENDOR,
    HOST,
    OPENAPI,
    Rig,
    make_client,
)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    app = create_dropbox_sign_emulator(
        callback_url=None,
        api_key=API_KEY,
        schema_path=OPENAPI if HAVE_VENDOR else None,
        client_id=CLIENT_ID,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=HOST) as http:
        yield Rig(app.state.emulator, http, make_client(http))
