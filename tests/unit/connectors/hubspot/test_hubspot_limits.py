"""HubSpot's errors, rate limits and batch limits: what the connector retries, pauses on or
splits, and the emulator's own limits and headers."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from inkbridge.connectors.hubspot.auth import PrivateAppToken
from inkbridge.errors import PermanentError, RetryableError
from inkbridge_emulators.hubspot import HubSpotEmulator

from ..payloads import TimeoutOn, envelope_change, lead, lead_change, task_change
from .support import BASE, connector


async def test_hubspots_own_rate_limit_is_retryable_with_the_wait_from_its_headers(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    hub.window.set_limit(1)

    with pytest.raises(RetryableError) as caught:
        await connector(client).apply([envelope_change(1, "sent")])

    assert caught.value.retry_after == 10.0  # X-HubSpot-RateLimit-Interval-Milliseconds
    assert "TEN_SECONDLY_ROLLING" in caught.value.reason


async def test_a_timeout_on_a_later_step_retries_the_batch_and_the_task_is_not_duplicated(
    app: Starlette, hub: HubSpotEmulator, client: httpx.AsyncClient
) -> None:
    async with httpx.AsyncClient(transport=TimeoutOn(app, "/associations/"), base_url=BASE) as c:
        with pytest.raises(RetryableError):
            await connector(c).apply([envelope_change(1), task_change(2)])
    retry = await connector(client).apply(
        [envelope_change(1, uncertain=True), task_change(2, uncertain=True)]
    )

    assert [r.ok for r in retry.results] == [True, True]
    assert len(hub.crm.records("deals")) == 1
    assert len(hub.crm.records("tasks")) == 1


async def test_a_revoked_private_app_token_fails_the_batch(client: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentError) as caught:
        await connector(client, auth=PrivateAppToken("pat-revoked")).apply([lead_change(1)])

    assert "401" in caught.value.reason


async def test_rate_limit_headers_are_exposed_in_meta(client: httpx.AsyncClient) -> None:
    result = await connector(client).apply([envelope_change(1)])

    assert result.meta["max"] == 100
    assert result.meta["interval_ms"] == 10_000
    assert result.meta["requests"] == 5  # read contacts, read deals, 2 upserts, associate
    assert result.meta["remaining"] == 95
    assert result.retry_after is None


async def test_an_exhausted_window_asks_the_engine_to_pause(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    hub.window.set_limit(5)

    result = await connector(client).apply([envelope_change(1)])

    assert result.results[0].ok
    assert result.meta["remaining"] == 0
    assert result.retry_after == 10.0


async def test_a_full_batch_keeps_within_hubspots_batch_limit(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    changes = [
        envelope_change(
            i, "sent", envelope_id=f"env_{i}", person=lead(f"lead_{i}", f"l{i}@example.test")
        )
        for i in range(1, 101)
    ]

    result = await connector(client).apply(changes)

    assert all(r.ok for r in result.results)
    assert len(hub.crm.records("deals")) == 100
    assert result.meta["requests"] == 5


AUTH = {"Authorization": "Bearer pat-emulator"}


async def test_the_emulator_refuses_more_than_100_inputs(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    inputs = [
        {"idProperty": "email", "id": f"p{i}@example.test", "properties": {}} for i in range(101)
    ]

    response = await client.post(
        "/crm/v3/objects/contacts/batch/upsert", json={"inputs": inputs}, headers=AUTH
    )

    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"
    assert hub.crm.records("contacts") == []


async def test_every_answer_carries_the_rate_limit_headers_and_a_429_names_its_policy(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    hub.window.set_limit(2)
    body = {"idProperty": "email", "inputs": [{"id": "a@example.test"}], "properties": []}
    path = "/crm/v3/objects/contacts/batch/read"

    answers = [await client.post(path, json=body, headers=AUTH) for _ in range(3)]

    assert [a.status_code for a in answers] == [207, 207, 429]
    assert [a.headers["x-hubspot-ratelimit-remaining"] for a in answers] == ["1", "0", "0"]
    assert answers[0].headers["x-hubspot-ratelimit-max"] == "2"
    assert answers[0].headers["x-hubspot-ratelimit-interval-milliseconds"] == "10000"
    assert answers[0].headers["x-hubspot-ratelimit-daily-remaining"] == "499999"
    assert answers[2].json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert answers[2].json()["errorType"] == "RATE_LIMIT"
    assert "retry-after" not in answers[2].headers


async def test_the_state_reports_request_counts_and_the_busiest_window(
    client: httpx.AsyncClient,
) -> None:
    await connector(client).apply([envelope_change(1)])

    state = (await client.get("/_state")).json()

    assert state["requests"]["requests_total"] == 5
    assert state["max_requests_in_window"] == 5
    assert state["requests"]["by_route"] == {"associate": 1, "batch_read": 2, "batch_upsert": 2}
    assert set(state["objects"]) == {"contacts", "deals"}
    assert state["tasks"] == [] and state["consents"] == []
