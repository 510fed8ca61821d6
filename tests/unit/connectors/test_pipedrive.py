"""The Pipedrive connector against the Pipedrive emulator, in process over httpx.ASGITransport."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from inkbridge.config import DestinationSettings
from inkbridge.connectors.pipedrive.connector import PipedriveConnector, from_settings
from inkbridge.errors import RetryableError
from inkbridge_emulators.pipedrive import (
    DEFAULT_API_TOKEN,
    PipedriveEmulator,
    PipedriveLimits,
    create_pipedrive_app,
)

from .marketing_payloads import (
    EMAIL,
    apply_sent_then_completed,
    asgi_client,
    consent_change,
    emulator_in,
    envelope_change,
    journey_change,
    lead,
    lead_change,
    suppress_change,
    task_change,
)
from .marketing_vendors import PIPEDRIVE_KEY_FIELD

BASE = "http://pipedrive.test"
KEY_FIELD = PIPEDRIVE_KEY_FIELD
STATUS_FIELD = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d"
SENT_FIELD = "2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e"
COMPLETED_FIELD = "3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f"
SOURCE_FIELD = "4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70"
FIELDS = {
    "envelope_status": STATUS_FIELD,
    "sent_at": SENT_FIELD,
    "completed_at": COMPLETED_FIELD,
    "first_touch_utm_source": SOURCE_FIELD,
}
ROOMY = PipedriveLimits(burst_per_2s=None, search_burst_per_2s=None, daily_token_budget=None)


def emulator_of(app: Starlette) -> PipedriveEmulator:
    return emulator_in(app, PipedriveEmulator)


def marketing_status(app: Starlette) -> str:
    """The marketing status of the one person the emulator holds."""
    (person,) = emulator_of(app).persons.values()
    return str(person["marketing_status"])


@pytest.fixture
def app() -> Starlette:
    return create_pipedrive_app(limits=ROOMY)


def connector(client: httpx.AsyncClient, **extra: object) -> PipedriveConnector:
    return PipedriveConnector(
        "pipedrive",
        BASE,
        client,
        key_field=KEY_FIELD,
        api_token=DEFAULT_API_TOKEN,
        fields=FIELDS,
        **extra,  # type: ignore[arg-type]
    )


async def test_lifecycle_changes_update_one_deal_with_status_and_milestones(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await apply_sent_then_completed(connector(client))

    deals = list(emulator_of(app).deals.values())
    assert len(deals) == 1
    custom = deals[0]["custom_fields"]
    assert custom[KEY_FIELD] == "env_1"
    assert custom[STATUS_FIELD] == "completed"
    assert custom[SENT_FIELD] == "2024-05-01T09:00:00+00:00"
    assert custom[COMPLETED_FIELD] == "2024-05-01T10:00:00+00:00"
    persons = list(emulator_of(app).persons.values())
    assert len(persons) == 1
    assert deals[0]["person_id"] == persons[0]["id"]
    assert persons[0]["emails"][0]["value"] == EMAIL
    assert persons[0]["name"] == "Ada Lovelace"


async def test_first_touch_is_written_once_and_never_overwritten(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    pipedrive = connector(client)

    await pipedrive.apply([envelope_change("sent", lead_body=lead(utm_source="newsletter"))])
    await pipedrive.apply([envelope_change("completed", lead_body=lead(utm_source="retargeting"))])

    (deal,) = emulator_of(app).deals.values()
    assert deal["custom_fields"][SOURCE_FIELD] == "newsletter"
    assert deal["custom_fields"][STATUS_FIELD] == "completed"


async def test_first_touch_fills_a_deal_whose_field_is_still_empty(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    emulator = emulator_of(app)
    emulator.create_deal({"title": "NDA", "custom_fields": {KEY_FIELD: "env_1", SOURCE_FIELD: ""}})

    await connector(client).apply([envelope_change("sent")])

    (deal,) = emulator.deals.values()
    assert deal["custom_fields"][SOURCE_FIELD] == "newsletter"


async def test_a_fresh_connector_finds_the_deal_by_key_instead_of_creating_it_again(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await connector(client).apply([envelope_change("sent")])

    # A new process (empty id map) retrying after an unknown outcome.
    result = await connector(client).apply([envelope_change("completed", uncertain=True)])

    assert result.results[0].ok
    (deal,) = emulator_of(app).deals.values()
    assert deal["custom_fields"][STATUS_FIELD] == "completed"


async def test_the_id_map_covers_search_lag_so_a_quick_second_change_still_updates() -> None:
    limits = PipedriveLimits(
        burst_per_2s=None,
        search_burst_per_2s=None,
        daily_token_budget=None,
        search_lag_seconds=60,
    )
    app = create_pipedrive_app(limits=limits)
    async with asgi_client(app, BASE) as client:
        pipedrive = connector(client)
        await pipedrive.apply([envelope_change("sent")])
        await pipedrive.apply([envelope_change("completed", uncertain=True)])

    assert len(emulator_of(app).deals) == 1
    assert len(emulator_of(app).persons) == 1


async def test_consent_is_written_as_marketing_status(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    pipedrive = connector(client)

    await pipedrive.apply([consent_change("granted")])
    assert marketing_status(app) == "subscribed"

    withdrawn = await pipedrive.apply([consent_change("withdrawn")])
    assert withdrawn.results[0].ok
    assert marketing_status(app) == "unsubscribed"


async def test_denied_consent_is_no_consent(app: Starlette, client: httpx.AsyncClient) -> None:
    await connector(client).apply([consent_change("denied")])

    assert marketing_status(app) == "no_consent"


async def test_consent_denied_after_a_subscription_unsubscribes(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    pipedrive = connector(client)
    await pipedrive.apply([consent_change("granted")])

    result = await pipedrive.apply([consent_change("denied")])

    assert result.results[0].ok
    assert marketing_status(app) == "unsubscribed"


async def test_emulator_records_survive_a_restart_on_the_same_file(tmp_path: Path) -> None:
    db = tmp_path / "pipedrive.db"
    async with asgi_client(create_pipedrive_app(db, limits=ROOMY), BASE) as client:
        await connector(client).apply([envelope_change("sent")])

    restarted = create_pipedrive_app(db, limits=ROOMY)
    async with asgi_client(restarted, BASE) as client:
        await connector(client).apply([envelope_change("completed")])

    (deal,) = emulator_of(restarted).deals.values()
    assert deal["custom_fields"][STATUS_FIELD] == "completed"


async def test_a_resubscription_pipedrive_refuses_is_reported_not_hidden(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    pipedrive = connector(client)
    await pipedrive.apply([consent_change("withdrawn")])

    result = await pipedrive.apply([consent_change("granted")])

    (outcome,) = result.results
    assert not outcome.ok and not outcome.retryable
    assert outcome.error is not None and "unsubscribed" in outcome.error
    assert marketing_status(app) == "unsubscribed"


async def test_marketing_suppress_unsubscribes_the_person(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    pipedrive = connector(client)
    await pipedrive.apply([consent_change("granted")])

    result = await pipedrive.apply([suppress_change()])

    assert result.results[0].ok
    assert marketing_status(app) == "unsubscribed"


async def test_lead_updates_rename_the_same_person(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    pipedrive = connector(client)
    await pipedrive.apply([lead_change()])

    await connector(client).apply([lead_change(lead_body=lead(first_name="Augusta"))])

    (person,) = emulator_of(app).persons.values()
    assert person["name"] == "Augusta Lovelace"


async def test_a_task_becomes_one_activity_even_when_a_retry_is_uncertain(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await connector(client).apply([envelope_change("completed")])
    first = await connector(client).apply([task_change()])

    # Another process retries after a timeout: it must look before creating.
    retried = await connector(client).apply([task_change(uncertain=True)])

    assert first.results[0].ok and retried.results[0].ok
    (activity,) = emulator_of(app).activities.values()
    (deal,) = emulator_of(app).deals.values()
    (person,) = emulator_of(app).persons.values()
    assert activity["type"] == "task"
    assert activity["subject"] == "Countersign the NDA"
    assert activity["deal_id"] == deal["id"]
    assert activity["person_id"] == person["id"]
    assert activity["due_date"] == "2024-05-02"
    assert activity["due_time"] == "09:30"


async def test_journeys_are_not_a_pipedrive_thing(client: httpx.AsyncClient) -> None:
    result = await connector(client).apply([journey_change()])

    (outcome,) = result.results
    assert not outcome.ok and not outcome.retryable


async def test_a_burst_429_is_retryable_after_the_window_reset() -> None:
    app = create_pipedrive_app(
        limits=PipedriveLimits(burst_per_2s=1, search_burst_per_2s=None, daily_token_budget=None)
    )
    async with asgi_client(app, BASE) as client:
        with pytest.raises(RetryableError) as caught:
            await connector(client).apply([envelope_change("sent")])

    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 2
    assert emulator_of(app).burst.rejected_total == 1


async def test_a_spent_daily_token_budget_waits_until_the_budget_resets() -> None:
    app = create_pipedrive_app(
        limits=PipedriveLimits(burst_per_2s=None, search_burst_per_2s=None, daily_token_budget=50)
    )
    async with asgi_client(app, BASE) as client:
        with pytest.raises(RetryableError) as caught:
            await connector(client).apply([envelope_change("sent")])

    assert caught.value.retry_after is not None and caught.value.retry_after > 2


async def test_the_remaining_rate_limit_is_exposed_in_meta() -> None:
    limits = PipedriveLimits(burst_per_2s=100, search_burst_per_2s=None, daily_token_budget=None)
    app = create_pipedrive_app(limits=limits)
    async with asgi_client(app, BASE) as client:
        result = await connector(client).apply([lead_change()])

    assert result.meta["requests"] == 2  # search, create
    assert result.meta["ratelimit_remaining"] == 98


async def test_a_rejected_token_fails_the_change_permanently(client: httpx.AsyncClient) -> None:
    pipedrive = PipedriveConnector(
        "pipedrive", BASE, client, key_field=KEY_FIELD, api_token="wrong", fields=FIELDS
    )

    result = await pipedrive.apply([lead_change()])

    (outcome,) = result.results
    assert not outcome.ok and not outcome.retryable
    assert outcome.error is not None and outcome.error.startswith("pipedrive answered 401")


async def test_an_oauth_access_token_is_sent_as_bearer(client: httpx.AsyncClient) -> None:
    app = create_pipedrive_app(api_token=None, access_token="oauth-123", limits=ROOMY)
    async with asgi_client(app, BASE) as http:
        pipedrive = PipedriveConnector(
            "pipedrive", BASE, http, key_field=KEY_FIELD, access_token="oauth-123"
        )
        result = await pipedrive.apply([lead_change()])

    assert result.results[0].ok
    assert emulator_of(app).unauthorized_total == 0


async def test_state_endpoint_reports_records_and_request_counts(
    client: httpx.AsyncClient,
) -> None:
    await connector(client).apply([envelope_change("sent")])

    state = (await client.get("/_state")).json()

    assert len(state["deals"]) == 1
    assert state["requests"]["by_route"]["POST /api/v2/deals"] == 1
    assert state["max_requests_in_window"] >= 1


async def test_from_settings_builds_a_working_connector(
    app: Starlette, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPEDRIVE_TOKEN", DEFAULT_API_TOKEN)
    dest = DestinationSettings(
        kind="pipedrive",
        url=BASE,
        credentials={"api_token": "env:PIPEDRIVE_TOKEN"},
        options={"key_field": KEY_FIELD, "owners": {"owner-7": 12}},
        fields=FIELDS,
    )

    built = from_settings("pipedrive", dest, client)
    result = await built.apply([envelope_change("sent")])

    assert built.max_batch == 1 and result.results[0].ok
    (deal,) = emulator_of(app).deals.values()
    assert (deal["owner_id"], deal["custom_fields"][STATUS_FIELD]) == (12, "sent")
