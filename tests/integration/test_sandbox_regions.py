"""The sandbox provider as inkbridge serves it with two regions: an account per region's
sandbox connection, each mounted on its own path with its own state file, holding only the
envelopes its connection's client creates and admitting only that connection's credential."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from inkbridge.api.app import create_app
from inkbridge.bootstrap import Container, bootstrap
from inkbridge.config import Settings
from inkbridge.providers.base import EnvelopeSpec, Signer
from inkbridge.sandbox.guard import service_credential
from inkbridge.sandbox.mounts import sandbox_mounts
from inkbridge.services.tokens import create_token
from tests.support.builders import SECRET
from tests.support.regions import region_urls, two_region_settings

BASE = "http://127.0.0.1:8000"
US_SECRET = "whsec_dXMtcmVnaW9uLXNhbmRib3gtc2VjcmV0LTAx"


@dataclass
class Sandbox:
    settings: Settings
    container: Container
    paths: list[str]
    admin: dict[str, str]

    def get(self, path: str, headers: dict[str, str]) -> int:
        async def go() -> int:
            return (await self.container.http.get(path, headers=headers)).status_code

        return asyncio.run(go())


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    us_secret = tmp_path / "us.secret"
    us_secret.write_text(US_SECRET)
    for urls in region_urls("sqlite", tmp_path):
        settings = two_region_settings(tmp_path, urls, sandbox=True)
        settings.connections["sandbox-us"].secrets = [f"file:{us_secret}"]
        seed = bootstrap(settings, auto_migrate=True)
        mounts = sandbox_mounts(settings, seed.databases)
        front = create_app(seed, sandbox_apps=mounts)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=front), base_url=BASE)
        container = bootstrap(settings, http=http)
        _, admin = create_token(container.databases, "admin", ["admin"])
        try:
            yield Sandbox(
                settings, container, [m[0] for m in mounts], {"authorization": f"Bearer {admin}"}
            )
        finally:
            asyncio.run(http.aclose())
            container.databases.dispose()
            seed.databases.dispose()


def _create(sandbox: Sandbox, connection: str) -> str:
    spec = EnvelopeSpec(
        envelope_id=f"env_{connection}",
        template_id="nda",
        title="Mutual NDA",
        signers=(Signer("someone@example.com", "Someone"),),
        metadata={},
    )
    created = asyncio.run(sandbox.container.providers[connection].create_envelope(spec))
    return created.provider_envelope_id


def test_each_region_has_its_own_sandbox_account_and_state_file(sandbox: Sandbox) -> None:
    assert sandbox.paths[:2] == ["/sandbox/provider", "/sandbox/providers/sandbox-us"]
    us_ref = _create(sandbox, "sandbox-us")
    eu_ref = _create(sandbox, "sandbox")
    admin = sandbox.admin
    assert sandbox.get(f"/sandbox/providers/sandbox-us/envelopes/{us_ref}", admin) == 200
    assert sandbox.get(f"/sandbox/provider/envelopes/{us_ref}", admin) == 404
    assert sandbox.get(f"/sandbox/provider/envelopes/{eu_ref}", admin) == 200
    assert sandbox.get(f"/sandbox/providers/sandbox-us/envelopes/{eu_ref}", admin) == 404
    state = sandbox.settings.data_dir / "sandbox"
    assert (state / "provider.db").exists() and (state / "provider-sandbox-us.db").exists()


def test_an_account_admits_only_its_own_connections_credential(sandbox: Sandbox) -> None:
    us_ref = _create(sandbox, "sandbox-us")
    eu_service = {"authorization": f"Bearer {service_credential(SECRET)}"}
    us_service = {"authorization": f"Bearer {service_credential(US_SECRET)}"}
    assert sandbox.get(f"/sandbox/providers/sandbox-us/envelopes/{us_ref}", us_service) == 200
    assert sandbox.get(f"/sandbox/providers/sandbox-us/envelopes/{us_ref}", eu_service) == 401
    assert sandbox.get(f"/sandbox/provider/envelopes/{us_ref}", us_service) == 401
