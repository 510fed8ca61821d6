"""Signer session fixtures: the real app over a migrated container, with the sandbox provider
mounted where `inkbridge serve` mounts it, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from inkbridge.api.app import create_app
from inkbridge.bootstrap import SANDBOX_PROVIDER_PATH, bootstrap
from inkbridge.providers.sandbox.client import SandboxProviderClient
from inkbridge.sandbox.provider import create_provider_app
from inkbridge.services.tokens import create_token
from tests.support.builders import SECRET, make_settings

from .support import APP, CRM_APP, PUBLIC, World


@pytest.fixture
async def world(tmp_path: Path, db_url: str) -> AsyncIterator[World]:
    settings = make_settings(
        tmp_path,
        db_url,
        server={"public_url": PUBLIC},
        connections={
            "sandbox": {
                "provider": "sandbox",
                "secrets": [f"file:{tmp_path / 'sandbox.secret'}"],
                "return_origins": [CRM_APP],
            }
        },
        templates={"nda": {"title": "Mutual NDA", "version": 3, "return_origins": [APP + "/"]}},
    )
    container = bootstrap(settings, auto_migrate=True)
    provider_app = create_provider_app(
        state_path=None,
        webhook_url="http://127.0.0.1:9/unused",
        webhook_secret=SECRET,
        public_url=PUBLIC + SANDBOX_PROVIDER_PATH,
    )
    app = create_app(container, sandbox_apps=[(SANDBOX_PROVIDER_PATH, provider_app, None)])
    transport = httpx.ASGITransport(app=app)
    internal = httpx.AsyncClient(transport=transport, base_url=PUBLIC)
    container.providers["sandbox"] = SandboxProviderClient(PUBLIC + SANDBOX_PROVIDER_PATH, internal)
    _, token = create_token(container.databases, "integrator", ["leads:write", "envelopes:write"])
    api = httpx.AsyncClient(
        transport=transport, base_url=PUBLIC, headers={"Authorization": f"Bearer {token}"}
    )
    lead = await api.post(
        "/v1/leads", json={"email": "ada.lovelace@example.com", "first_name": "Ada"}
    )
    envelope = await api.post(
        "/v1/envelopes", json={"lead_id": lead.json()["id"], "template_key": "nda"}
    )
    assert envelope.status_code == 201, envelope.text
    yield World(
        container=container,
        sandbox=provider_app.state.sandbox,
        transport=transport,
        api=api,
        lead_id=lead.json()["id"],
        envelope_id=envelope.json()["id"],
    )
    await api.aclose()
    await internal.aclose()
    provider_app.state.sandbox.close()
    container.databases.dispose()
