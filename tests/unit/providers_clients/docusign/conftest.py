"""DocuSign client fixtures: the emulator in process, an HTTP client to it and a DocuSignClient."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from inkbridge_emulators.docusign import create_docusign_emulator

from .support import (
    ACCOUNT,
    CONNECT_KEYS,
    HAVE_VENDOR,
    HOST,
    INTEGRATION_KEY,
    PUBLIC_PEM,
    SCHEMA_DIR,
    USER_ID,
    Rig,
    make_client,
)


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    app = create_docusign_emulator(
        connect_url=None,
        connect_keys=CONNECT_KEYS,
        account_id=ACCOUNT,
        schema_dir=SCHEMA_DIR if HAVE_VENDOR else None,
        public_key_pem=PUBLIC_PEM,
        integration_key=INTEGRATION_KEY,
        user_id=USER_ID,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=HOST) as http:
        yield Rig(app, app.state.emulator, http, make_client(http))
