"""The locked-down sandbox as inkbridge serves it: its own sandbox clients keep working with the
least-privilege service credential, which opens nothing else; a stranger gets nothing."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from inkbridge.api.app import create_app
from inkbridge.bootstrap import Container, bootstrap
from inkbridge.connectors.base import Change
from inkbridge.connectors.sandbox_crm.connector import SandboxCrmConnector
from inkbridge.errors import PermanentError
from inkbridge.providers.base import EnvelopeSpec, Signer, SignerAuthentication, SigningRequest
from inkbridge.providers.sandbox.client import SandboxProviderClient
from inkbridge.sandbox.guard import service_credential
from inkbridge.sandbox.mounts import is_loopback, sandbox_mounts
from inkbridge.services.tokens import create_token
from tests.support.builders import SECRET, make_settings

BASE = "http://127.0.0.1:8000"


@dataclass
class Sandbox:
    container: Container
    admin: dict[str, str]


@pytest.fixture
def sandbox(tmp_path: Path, sqlite_url: str) -> Iterator[Sandbox]:
    settings = make_settings(
        tmp_path,
        sqlite_url,
        sandbox=True,
        destinations={"crm": {"kind": "sandbox_crm"}},
    )
    # The app is built first and the container's HTTP client routed into it, as if over TCP.
    seed = bootstrap(settings, auto_migrate=True)
    front = create_app(seed, sandbox_apps=sandbox_mounts(settings, seed.databases))
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=front), base_url=BASE)
    container = bootstrap(settings, http=http)
    _, admin = create_token(container.databases, "admin", ["admin"])
    yield Sandbox(container, {"authorization": f"Bearer {admin}"})
    asyncio.run(http.aclose())
    container.databases.dispose()
    seed.databases.dispose()


def _spec(envelope_id: str) -> EnvelopeSpec:
    return EnvelopeSpec(
        envelope_id=envelope_id,
        template_id="nda",
        title="Mutual NDA",
        signers=(Signer("ada@example.com", "Ada"),),
        metadata={},
    )


def _change(record_key: str, outbox_id: int = 1, uncertain: bool = False) -> Change:
    return Change(
        outbox_id=outbox_id,
        record_key=record_key,
        kind="envelope.state_changed",
        idempotency_key=f"{record_key}:state:sent",
        payload={"envelope": {"id": "env_1", "state": "sent"}},
        correlation_id=None,
        uncertain=uncertain,
    )


def test_inkbridges_own_sandbox_clients_work_with_the_service_credential(
    sandbox: Sandbox,
) -> None:
    provider = sandbox.container.providers["sandbox"]
    connector = sandbox.container.destinations["crm"].connector

    async def run() -> tuple[str, str, int]:
        created = await provider.create_envelope(_spec("env_service"))
        vouched = SignerAuthentication("sso", datetime.now(UTC), hashlib.sha256(b"c").hexdigest())
        url = await provider.signing_url(
            SigningRequest(
                created.provider_envelope_id, Signer("a@b.c", "A"), authentication=vouched
            )
        )
        history = await provider.fetch_status(created.provider_envelope_id)
        await connector.apply([_change("envelope:env_service")])
        # An uncertain retry reads the record back: the one read the credential allows.
        again = await connector.apply([_change("envelope:env_service", 2, uncertain=True)])
        assert all(r.ok for r in again.results)
        return created.provider_envelope_id, url, len(history)

    _, url, events = asyncio.run(run())
    assert url.startswith(f"{BASE}/sandbox/provider/sign/") and events >= 1

    async def read_back() -> httpx.Response:
        return await sandbox.container.http.get(
            "/sandbox/crm/records/envelope:env_service", headers=sandbox.admin
        )

    record = asyncio.run(read_back())
    assert record.status_code == 200
    assert record.json()["properties"]["inkbridge_status"] == "sent"
    assert record.json()["properties"]["inkbridge_envelope_id"] == "env_1"


def test_the_service_credential_opens_no_personal_data_and_no_admin_route(
    sandbox: Sandbox,
) -> None:
    service = {"authorization": f"Bearer {service_credential(SECRET)}"}

    async def run() -> list[int]:
        http = sandbox.container.http
        return [
            (await http.get("/sandbox/crm/records", headers=service)).status_code,
            (await http.get("/sandbox/crm/writes", headers=service)).status_code,
            (await http.delete("/sandbox/marketing/_all", headers=service)).status_code,
            (await http.post("/sandbox/provider/_chaos", headers=service, json={})).status_code,
            (await http.post("/sandbox/provider/envelopes/x/void", headers=service)).status_code,
            (await http.get("/v1/envelopes", headers=service)).status_code,
        ]

    assert asyncio.run(run()) == [403, 403, 403, 403, 403, 401]


def test_a_client_without_the_credential_or_with_another_secrets_is_refused(
    sandbox: Sandbox,
) -> None:
    http = sandbox.container.http
    anonymous = SandboxProviderClient(f"{BASE}/sandbox/provider", http)
    forged = SandboxCrmConnector(
        "crm",
        f"{BASE}/sandbox/crm",
        http,
        service_credential=service_credential("whsec_someone-elses-secret"),
    )

    async def run() -> list[str]:
        refusals = []
        for attempt in (
            anonymous.create_envelope(_spec("env_stranger")),
            forged.apply([_change("envelope:env_stranger")]),
        ):
            with pytest.raises(PermanentError) as caught:
                await attempt
            refusals.append(caught.value.reason)
        return refusals

    refusals = asyncio.run(run())
    assert "401" in refusals[0] and "401" in refusals[1]

    async def records() -> httpx.Response:
        return await http.get("/sandbox/crm/records", headers=sandbox.admin)

    assert asyncio.run(records()).json()["total"] == 0


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("10.0.0.5", False),
        ("inkbridge.example.com", False),
        ("", False),
    ],
)
def test_only_loopback_addresses_count_as_this_machine(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
