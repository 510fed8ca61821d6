"""AcrobatSignClient against the Acrobat Sign emulator in process: agreements, signing URLs,
the status API and the OAuth refresh, with the emulator's webhooks parsed by the real
AcrobatSignAdapter, which answers with its client id echo."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from inkbridge.domain.events import EventType
from inkbridge.errors import PermanentError
from inkbridge.providers.acrobat_sign.adapter import AcrobatSignAdapter
from inkbridge.providers.acrobat_sign.client import AcrobatSignClient
from inkbridge.providers.base import SigningRequest
from tests.support.provider_worlds import (
    EmulatorWorld,
    acrobat_bearer,
    acrobat_webhook,
    signed_by_both,
)
from tests.unit.providers_clients.client_vendors import (
    ACROBAT_ADA as ADA,
)
from tests.unit.providers_clients.client_vendors import (
    ACROBAT_CLIENT_ID as CLIENT_ID,
)
from tests.unit.providers_clients.client_vendors import (
    ACROBAT_GRACE as GRACE,
)
from tests.unit.providers_clients.client_vendors import (
    ACROBAT_REFRESH as REFRESH,
)
from tests.unit.providers_clients.client_vendors import (
    ACROBAT_SECRET as SECRET,
)
from tests.unit.providers_clients.client_vendors import (
    ACROBAT_SIGN,
    create_and_deliver,
)

World = EmulatorWorld[AcrobatSignClient]


world = ACROBAT_SIGN.world_fixture()


async def test_creating_an_agreement_carries_inkbridge_ids_and_notifies(world: World) -> None:
    created, agreement = await create_and_deliver(world, ACROBAT_SIGN.spec())

    assert agreement.external_id == "env_1"
    assert agreement.merge_fields == {"company": "Analytical Engines"}
    assert json.loads(agreement.extra["note"]) == {
        "inkbridge_envelope_id": "env_1",
        "inkbridge_lead_id": "lead_1",
        "inkbridge_correlation_id": "cor_1",
    }
    assert created.status == "OUT_FOR_SIGNATURE"
    assert [e.type for e in world.receiver.events] == [EventType.DOCUMENT_SENT]
    assert world.receiver.events[0].metadata == {"inkbridge_envelope_id": "env_1"}
    assert world.receiver.events[0].recipient_email == ADA.email


async def test_signing_url_is_the_current_signers_esign_url(world: World) -> None:
    created = await world.client.create_envelope(ACROBAT_SIGN.spec(ADA, GRACE))
    url = await world.client.signing_url(SigningRequest(created.provider_envelope_id, ADA))
    assert url.startswith("https://secure.acrobat-emulator.test/public/apiesign?pid=")
    with pytest.raises(PermanentError):
        # Grace signs second: Acrobat has no URL for her yet.
        await world.client.signing_url(SigningRequest(created.provider_envelope_id, GRACE))


async def test_a_full_signing_reaches_the_receiver_and_the_status_api(world: World) -> None:
    agreement_id = await signed_by_both(world, ACROBAT_SIGN.spec(ADA, GRACE))

    received = [e.type for e in world.receiver.events]
    assert received == [
        EventType.DOCUMENT_SENT,
        EventType.DOCUMENT_VIEWED,
        EventType.RECIPIENT_SIGNED,
        EventType.DOCUMENT_SENT,  # Acrobat asks the next signer: AGREEMENT_ACTION_REQUESTED
        EventType.RECIPIENT_SIGNED,
        EventType.DOCUMENT_COMPLETED,
    ]
    assert len(set(world.receiver.keys)) == len(world.receiver.keys)
    history = await world.client.fetch_status(agreement_id)
    assert history[-1].type is EventType.DOCUMENT_COMPLETED
    signed = [e for e in history if e.type is EventType.RECIPIENT_SIGNED]
    assert [e.recipient_email for e in signed] == [ADA.email, GRACE.email]
    assert history[-1].occurred_at == signed[-1].occurred_at
    assert history[-1].metadata == {"inkbridge_envelope_id": "env_1"}


async def test_the_access_token_is_cached_and_refreshed_once_on_401(world: World) -> None:
    created = await world.client.create_envelope(ACROBAT_SIGN.spec())
    await world.client.fetch_status(created.provider_envelope_id)
    assert world.emulator.refresh_count == 1

    world.emulator.revoke_access_tokens()
    await world.client.fetch_status(created.provider_envelope_id)
    assert world.emulator.refresh_count == 2


async def test_an_access_token_near_expiry_is_refreshed_before_use() -> None:
    now = [datetime(2026, 3, 2, 10, 0, tzinfo=UTC)]
    refreshes = 0

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal refreshes
        if request.url.path == "/oauth/v2/refresh":
            refreshes += 1
            return httpx.Response(200, json={"access_token": f"t{refreshes}", "expires_in": 3600})
        assert request.headers["authorization"] == f"Bearer t{refreshes}"
        return httpx.Response(200, json={"id": "a1", "status": "OUT_FOR_SIGNATURE", "events": []})

    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
        client = AcrobatSignClient("http://acrobat", "c", "s", "r", http, clock=lambda: now[0])
        await client.fetch_status("a1")
        now[0] += timedelta(minutes=50)
        await client.fetch_status("a1")
        assert refreshes == 1
        now[0] += timedelta(minutes=9)  # within the refresh margin of the hour
        await client.fetch_status("a1")
        assert refreshes == 2


async def test_the_emulator_refuses_calls_without_a_token(world: World) -> None:
    answer = await world.api.get("/api/rest/v6/agreements/x")
    assert answer.status_code == 401
    assert answer.json()["code"] == "INVALID_ACCESS_TOKEN"


async def test_registering_a_webhook_requires_the_client_id_echo(world: World) -> None:
    headers = await acrobat_bearer(world.api, "", CLIENT_ID, SECRET, REFRESH)
    body = acrobat_webhook("http://receiver/hooks")
    created = await world.api.post("/api/rest/v6/webhooks", json=body, headers=headers)
    assert created.status_code == 201

    world.receiver.adapter = AcrobatSignAdapter([SecretStr("some-other-client")])
    refused = await world.api.post("/api/rest/v6/webhooks", json=body, headers=headers)
    assert refused.status_code == 400
    assert refused.json()["code"] == "INVALID_WEBHOOK_URL"
