"""The Marketo connector against the Marketo emulator, in process over httpx.ASGITransport."""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from inkbridge.config import DestinationSettings
from inkbridge.connectors.marketo.connector import (
    LOCK_STRIPES,
    JourneyTarget,
    MarketoConnector,
)
from inkbridge.connectors.marketo.settings import from_settings
from inkbridge.errors import ConfigError, PermanentError, RetryableError
from inkbridge_emulators.marketo import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    MarketoEmulator,
    MarketoLimits,
    create_marketo_app,
)
from tests.unit.connectors.faults import assert_fault_is_retryable

from .marketing_payloads import (
    EMAIL,
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

BASE = "http://marketo.test"
ONBOARDING_LIST = 1001
NURTURE_CAMPAIGN = 2002
SUPPRESS_LIST = 1900
JOURNEYS = {
    "onboarding": JourneyTarget(list_id=ONBOARDING_LIST),
    "nurture": JourneyTarget(campaign_id=NURTURE_CAMPAIGN),
}


def emulator_of(app: Starlette) -> MarketoEmulator:
    return emulator_in(app, MarketoEmulator)


def lead_by_email(app: Starlette, email: str = EMAIL) -> dict[str, Any]:
    (found,) = emulator_of(app).leads_by("email", email)
    return found


@pytest.fixture
def app() -> Starlette:
    return create_marketo_app()


def connector(client: httpx.AsyncClient, **extra: Any) -> MarketoConnector:
    settings: dict[str, Any] = {
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "journeys": JOURNEYS,
        "suppress_list_id": SUPPRESS_LIST,
        **extra,
    }
    return MarketoConnector("marketo", BASE, client, **settings)


def routes(app: Starlette) -> dict[str, int]:
    return dict(emulator_of(app).traffic.by_route)


async def test_lifecycle_changes_update_one_lead_with_status_and_milestones(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    marketo = connector(client)

    sent = await marketo.apply([envelope_change("sent")])
    completed = await marketo.apply([envelope_change("completed")])

    assert [r.ok for r in (*sent.results, *completed.results)] == [True, True]
    found = lead_by_email(app)
    assert found["inkbridgeEnvelopeStatus"] == "completed"
    assert found["inkbridgeEnvelopeId"] == "env_1"
    assert found["inkbridgeSentAt"] == "2024-05-01T09:00:00+00:00"
    assert found["inkbridgeCompletedAt"] == "2024-05-01T10:00:00+00:00"
    assert (found["firstName"], found["lastName"]) == ("Ada", "Lovelace")
    assert "unsubscribed" not in found  # consent is written by consent changes only


async def test_first_touch_is_read_once_per_batch_and_never_overwritten(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    marketo = connector(client)
    await marketo.apply([envelope_change("sent", lead_body=lead(utm_source="newsletter"))])

    result = await marketo.apply(
        [
            envelope_change("completed", lead_body=lead(utm_source="retargeting")),
            envelope_change(
                "sent", envelope_id="env_2", lead_body=lead("lead_2", "bo@example.test")
            ),
        ]
    )

    assert all(r.ok for r in result.results)
    assert lead_by_email(app)["inkbridgeFirstTouchUtmSource"] == "newsletter"
    assert lead_by_email(app, "bo@example.test")["inkbridgeFirstTouchUtmSource"] == "newsletter"
    assert routes(app)["POST /rest/v1/leads.json"] == 4  # per apply: one read, one upsert
    assert result.meta == {"requests": 2, "rounds": 1}


async def test_consent_is_written_as_unsubscribed(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    marketo = connector(client)

    await marketo.apply([consent_change("granted")])
    assert lead_by_email(app)["unsubscribed"] is False

    await marketo.apply([consent_change("withdrawn")])
    assert lead_by_email(app)["unsubscribed"] is True


async def test_denied_consent_is_unsubscribed(app: Starlette, client: httpx.AsyncClient) -> None:
    await connector(client).apply([consent_change("denied")])

    assert lead_by_email(app)["unsubscribed"] is True


async def test_journey_enter_adds_the_lead_to_the_configured_list(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    result = await connector(client).apply([journey_change("onboarding")])

    assert result.results[0].ok
    assert emulator_of(app).list_members[ONBOARDING_LIST] == [lead_by_email(app)["id"]]


async def test_journey_enter_requests_the_configured_campaign(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    result = await connector(client).apply([journey_change("nurture")])

    assert result.results[0].ok
    (run,) = emulator_of(app).campaign_runs
    assert run["campaign_id"] == NURTURE_CAMPAIGN
    assert run["lead_id"] == lead_by_email(app)["id"]


async def test_journey_enter_without_marketing_consent_is_refused(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    no_consent = lead(consent={"marketing_email": "withdrawn"}, marketing_allowed=False)

    result = await connector(client).apply([journey_change("onboarding", no_consent)])

    (outcome,) = result.results
    assert not outcome.ok and not outcome.retryable
    assert outcome.error is not None and "consent" in outcome.error
    assert emulator_of(app).list_members == {}
    assert routes(app) == {}


async def test_an_unconfigured_journey_fails_the_change_permanently(
    client: httpx.AsyncClient,
) -> None:
    result = await connector(client).apply([journey_change("winback")])

    assert not result.results[0].ok and not result.results[0].retryable


async def test_marketing_suppress_unsubscribes_and_adds_to_the_suppression_list(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    result = await connector(client).apply([suppress_change()])

    assert result.results[0].ok
    found = lead_by_email(app)
    assert found["unsubscribed"] is True
    assert emulator_of(app).list_members[SUPPRESS_LIST] == [found["id"]]


async def test_two_changes_of_one_lead_go_in_separate_rounds_and_never_duplicate(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    result = await connector(client).apply(
        [envelope_change("sent"), consent_change("withdrawn"), journey_change("onboarding")]
    )

    assert [r.ok for r in result.results] == [True, True, True]
    assert result.meta["rounds"] == 3
    assert len(emulator_of(app).leads) == 1
    assert emulator_of(app).duplicates_created == 0


async def test_the_emulator_does_duplicate_a_key_sent_twice_in_one_request() -> None:
    # The hazard the connector's rounds avoid, shown on the emulator itself.
    app = create_marketo_app()
    records = [{"email": EMAIL, "firstName": "Ada"}, {"email": EMAIL, "lastName": "Lovelace"}]

    await emulator_of(app).upsert_leads("createOrUpdate", "email", records)

    assert emulator_of(app).duplicates_created == 1


async def test_parallel_applies_for_one_lead_are_serialised() -> None:
    app = create_marketo_app(write_delay=0.05)
    async with asgi_client(app, BASE) as client:
        marketo = connector(client)
        outcomes = await asyncio.gather(
            marketo.apply([envelope_change("sent")]),
            marketo.apply([consent_change("granted")]),
        )

    assert all(r.ok for outcome in outcomes for r in outcome.results)
    assert len(emulator_of(app).leads) == 1
    assert emulator_of(app).duplicates_created == 0


async def test_a_606_in_a_200_is_retryable_after_the_20_second_window(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/_faults", json={"mode": "rate_limit", "count": 1})

    with pytest.raises(RetryableError) as caught:
        await connector(client).apply([lead_change()])

    assert caught.value.reason == "marketo error 606"
    assert caught.value.retry_after == 20


async def test_more_than_the_calls_per_window_answer_606() -> None:
    app = create_marketo_app(limits=MarketoLimits(calls_per_20s=2))  # read + upsert
    async with asgi_client(app, BASE) as client:
        marketo = connector(client)
        await marketo.apply([lead_change()])
        with pytest.raises(RetryableError) as caught:
            await marketo.apply([lead_change()])

    assert caught.value.retry_after == 20
    assert emulator_of(app).window.rejected_total == 1


async def test_a_spent_daily_quota_607_waits_long() -> None:
    app = create_marketo_app(limits=MarketoLimits(daily_quota=0))
    async with asgi_client(app, BASE) as client:
        with pytest.raises(RetryableError) as caught:
            await connector(client).apply([lead_change()])

    assert caught.value.reason == "marketo error 607"
    assert caught.value.retry_after is not None and caught.value.retry_after > 20


async def test_more_than_the_concurrent_calls_answer_615() -> None:
    app = create_marketo_app(limits=MarketoLimits(concurrent=1), write_delay=0.1)
    emails = _emails_in_different_lock_stripes(2)
    async with asgi_client(app, BASE) as client:
        marketo = connector(client)
        await marketo._api.access_token()
        outcomes = await asyncio.gather(
            *(marketo.apply([lead_change(lead_body=lead(f"lead_{e}", e))]) for e in emails),
            return_exceptions=True,
        )

    failures = [o for o in outcomes if isinstance(o, RetryableError)]
    assert len(failures) == 1
    assert failures[0].reason == "marketo error 615"
    assert failures[0].retry_after == 20


async def test_an_invalid_token_601_refreshes_the_token_and_retries_once(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    marketo = connector(client)
    await marketo.apply([lead_change()])
    await client.post("/_errors", json={"code": "601", "count": 1})

    result = await marketo.apply([consent_change("granted")])

    assert result.results[0].ok
    assert emulator_of(app).tokens_issued == 2


async def test_an_expired_token_602_refreshes_the_token(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    marketo = connector(client)
    await marketo.apply([lead_change()])
    await client.post("/_expire_tokens")

    result = await marketo.apply([consent_change("granted")])

    assert result.results[0].ok
    assert emulator_of(app).tokens_issued == 2


async def test_a_token_refused_twice_is_retryable(client: httpx.AsyncClient) -> None:
    await client.post("/_errors", json={"code": "601", "count": 2})

    with pytest.raises(RetryableError):
        await connector(client).apply([lead_change()])


async def test_other_response_codes_are_permanent(client: httpx.AsyncClient) -> None:
    await client.post("/_errors", json={"code": "1003", "count": 1})

    with pytest.raises(PermanentError) as caught:
        await connector(client).apply([lead_change()])

    assert caught.value.reason == "marketo error 1003"


async def test_a_skipped_record_1003_fails_only_its_change(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    bad = lead_change(lead_body=lead("lead_9", "not-an-email"))
    good = lead_change()

    result = await connector(client).apply([bad, good])

    failed, ok = result.results
    assert not failed.ok and not failed.retryable
    assert failed.error == "marketo skipped the lead (1003)"
    assert ok.ok
    assert len(emulator_of(app).leads) == 1


async def test_an_unknown_field_is_skipped_with_1006() -> None:
    app = create_marketo_app(custom_fields=frozenset({"inkbridgeLeadId"}))
    async with asgi_client(app, BASE) as client:
        result = await connector(client).apply([envelope_change("sent")])

    assert result.results[0].error == "marketo skipped the lead (1006)"


async def test_rejected_client_credentials_are_permanent(client: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentError):
        await connector(client, client_secret="wrong").apply([lead_change()])


async def test_server_errors_are_retryable(client: httpx.AsyncClient) -> None:
    await assert_fault_is_retryable(
        client, {"mode": "down", "count": 1}, lambda: connector(client).apply([lead_change()])
    )


async def test_a_custom_lookup_field_finds_the_lead_by_inkbridge_id(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    marketo = connector(client, lookup_field="inkbridgeLeadId")
    await marketo.apply([lead_change()])

    await marketo.apply([lead_change(lead_body=lead(email="ada@new.example.test"))])

    (only,) = emulator_of(app).leads.values()
    assert only["email"] == "ada@new.example.test"
    assert only["inkbridgeLeadId"] == "lead_1"


async def test_first_touch_reads_go_as_post_with_method_get_even_when_long(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    changes = [
        envelope_change(
            "sent",
            envelope_id=f"env_{n}",
            lead_body=lead(f"lead_{n}", f"someone.with.a.rather.long.address.{n:03d}@example.test"),
        )
        for n in range(200)
    ]

    result = await connector(client).apply(changes)

    assert all(r.ok for r in result.results)
    assert routes(app) == {"POST /rest/v1/leads.json": 2}
    assert len(emulator_of(app).leads) == 200


async def test_crm_tasks_are_not_a_marketo_thing(client: httpx.AsyncClient) -> None:
    result = await connector(client).apply([task_change()])

    assert not result.results[0].ok and not result.results[0].retryable


async def test_state_endpoint_reports_leads_lists_and_windows(
    client: httpx.AsyncClient,
) -> None:
    await connector(client).apply([journey_change("onboarding")])

    state = (await client.get("/_state")).json()

    assert len(state["leads"]) == 1
    assert state["lists"] == {str(ONBOARDING_LIST): [state["leads"][0]["id"]]}
    assert state["max_requests_in_window"] == 3  # read, upsert, list add
    assert state["tokens_issued"] == 1


async def test_from_settings_builds_a_working_connector(
    app: Starlette, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MARKETO_SECRET", DEFAULT_CLIENT_SECRET)
    dest = DestinationSettings(
        kind="marketo",
        url=BASE,
        options={
            "client_id": DEFAULT_CLIENT_ID,
            "journeys": {"onboarding": {"list_id": 7}, "nurture": {"campaign_id": 8}},
            "suppress_list_id": 9,
        },
        credentials={"client_secret": "env:MARKETO_SECRET"},
        batch_size=500,
    )

    built = from_settings("marketo", dest, client)
    result = await built.apply(
        [journey_change("onboarding"), suppress_change(lead("lead_2", "bo@x.test"))]
    )

    assert built.max_batch == 300
    assert all(r.ok for r in result.results)
    assert set(emulator_of(app).list_members) == {7, 9}


async def test_from_settings_derives_the_url_from_the_munchkin_id(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MARKETO_SECRET", "s3cret")
    hosts: list[str] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        return httpx.Response(401, json={"error": "invalid_client"})

    dest = DestinationSettings(
        kind="marketo",
        options={"munchkin_id": "123-ABC-456", "client_id": "cid"},
        credentials={"client_secret": "env:MARKETO_SECRET"},
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as http:
        with pytest.raises(PermanentError):
            await from_settings("marketo", dest, http).apply([lead_change()])

    assert hosts == ["123-abc-456.mktorest.com"]


def test_from_settings_rejects_incomplete_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKETO_SECRET", "s3cret")
    secret = {"client_secret": "env:MARKETO_SECRET"}
    with pytest.raises(ConfigError):
        from_settings(
            "m", DestinationSettings(kind="marketo", credentials=secret), httpx.AsyncClient()
        )
    with pytest.raises(ConfigError):
        from_settings(
            "m",
            DestinationSettings(
                kind="marketo",
                url=BASE,
                options={"client_id": "cid", "journeys": {"x": {}}},
                credentials=secret,
            ),
            httpx.AsyncClient(),
        )


def _emails_in_different_lock_stripes(count: int) -> list[str]:
    emails: list[str] = []
    stripes: set[int] = set()
    for n in range(1000):
        email = f"person{n}@example.test"
        stripe = zlib.crc32(email.encode()) % LOCK_STRIPES
        if stripe not in stripes:
            stripes.add(stripe)
            emails.append(email)
        if len(emails) == count:
            return emails
    raise AssertionError("no emails found")
