"""The HubSpot connector against the HubSpot emulator, in process over httpx.ASGITransport."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from inkbridge.config import DestinationSettings
from inkbridge.connectors.hubspot.auth import HubSpotOAuth, PrivateAppToken
from inkbridge.connectors.hubspot.connector import HubSpotConnector
from inkbridge.connectors.hubspot.plan import HubSpotOptions
from inkbridge.connectors.hubspot.settings import from_settings
from inkbridge.errors import ConfigError, PermanentError, RetryableError
from inkbridge_emulators.hubspot import HubSpotEmulator, create_hubspot_app
from inkbridge_emulators.hubspot_state import HubSpotRefusal
from tests.unit.connectors.faults import (
    DOWN,
    ERROR_500,
    RATE_LIMIT,
    assert_fault_is_retryable,
    assert_timeout_is_retryable,
)
from tests.unit.connectors.payloads import (
    AnswerLostOn,
    TimeoutOn,
    consent_change,
    envelope_change,
    first_touch,
    journey_change,
    lead,
    lead_change,
    suppress_change,
    task_change,
)

BASE = "http://hubspot.test"
OPTIONS = HubSpotOptions(
    owners={"owner-7": "101", "owner-8": "102"},
    subscriptions={"marketing_email": 1},
    lists={"onboarding": "77", "suppress": "99"},
    deal_stages={"completed": "closedwon"},
)


@pytest.fixture
def app() -> Starlette:
    return create_hubspot_app(None)


@pytest.fixture
def hub(app: Starlette) -> HubSpotEmulator:
    emulator: HubSpotEmulator = app.state.hubspot
    return emulator


def connector(
    client: httpx.AsyncClient, options: HubSpotOptions = OPTIONS, **kw: Any
) -> HubSpotConnector:
    return HubSpotConnector(
        name="hubspot",
        base_url=BASE,
        client=client,
        auth=kw.pop("auth", PrivateAppToken("pat-emulator")),
        options=options,
        **kw,
    )


async def test_an_envelope_lifecycle_upserts_one_deal_and_its_contact_and_associates_them(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    hubspot = connector(client)

    sent = await hubspot.apply([envelope_change(1, "sent")])
    done = await hubspot.apply([envelope_change(2, "completed")])

    assert [r.ok for r in [*sent.results, *done.results]] == [True, True]
    (deal,) = hub.crm.records("deals")
    assert deal["inkbridge_envelope_id"] == "env_1"
    assert deal["inkbridge_status"] == "completed"
    assert deal["dealstage"] == "closedwon"
    assert deal["inkbridge_sent_at"] == "2024-05-01T09:00:00+00:00"
    assert deal["inkbridge_completed_at"] == "2024-05-01T10:00:00+00:00"
    assert deal["hubspot_owner_id"] == "101"
    assert deal["inkbridge_template"] == "nda"
    assert deal["inkbridge_first_touch_utm_source"] == "newsletter"
    (contact,) = hub.crm.records("contacts")
    assert contact["email"] == "ada@example.test"
    assert contact["firstname"] == "Ada"
    assert contact["inkbridge_lead_id"] == "lead_1"
    assert contact["inkbridge_first_touch_gclid"] == "g-123"
    links = [(a["from"], a["to"]) for a in hub.crm.associations()]
    assert links == [(["contacts", contact["hs_object_id"]], ["deals", deal["hs_object_id"]])]


async def test_envelopes_go_to_a_custom_object_when_configured(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    hubspot = connector(
        client, HubSpotOptions(envelope_object="p_inkbridge_envelopes", owners=OPTIONS.owners)
    )

    result = await hubspot.apply([envelope_change(1, "viewed")])

    assert result.results[0].ok
    (record,) = hub.crm.records("p_inkbridge_envelopes")
    assert record["inkbridge_status"] == "viewed"
    assert "dealname" not in record
    assert hub.crm.records("deals") == []


async def test_first_touch_already_in_hubspot_is_kept_while_the_owner_is_updated(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    hub.crm.seed(
        "contacts",
        {
            "email": "ada@example.test",
            "inkbridge_first_touch_utm_source": "partner",
            "hubspot_owner_id": "100",
        },
    )
    person = lead(owner="owner-8", touch=first_touch("newsletter"))

    result = await connector(client).apply([lead_change(1, person)])

    assert result.results[0].ok
    contact = hub.crm.record_by("contacts", "email", "ada@example.test")
    assert contact is not None
    assert contact["inkbridge_first_touch_utm_source"] == "partner"  # never overwritten
    assert contact["inkbridge_first_touch_utm_medium"] == "email"  # was empty: filled
    assert contact["hubspot_owner_id"] == "102"


async def test_first_touch_is_checked_on_the_envelope_record_too(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    hub.crm.seed("deals", {"inkbridge_envelope_id": "env_1", "inkbridge_first_touch_at": "x"})

    await connector(client).apply([envelope_change(1, "sent")])

    deal = hub.crm.record_by("deals", "inkbridge_envelope_id", "env_1")
    assert deal is not None
    assert deal["inkbridge_first_touch_at"] == "x"
    assert deal["inkbridge_status"] == "sent"


async def test_two_changes_for_one_contact_are_merged_into_one_input(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    result = await connector(client).apply(
        [
            lead_change(1, lead(owner="owner-7")),
            envelope_change(2, "sent", person=lead(owner="owner-8")),
        ]
    )

    assert [r.ok for r in result.results] == [True, True]
    (contact,) = hub.crm.records("contacts")
    assert contact["hubspot_owner_id"] == "102"  # the later change wins


async def test_consent_becomes_subscription_statuses_with_a_legal_basis_on_subscribe(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    hubspot = connector(client)

    granted = await hubspot.apply([consent_change(1, {"marketing_email": "granted"})])
    (status,) = hub.crm.statuses()
    withdrawn = await hubspot.apply([consent_change(2, {"marketing_email": "withdrawn"})])

    assert granted.results[0].ok and withdrawn.results[0].ok
    assert status["status"] == "SUBSCRIBED"
    assert status["channel"] == "EMAIL"
    assert status["legalBasis"] == "CONSENT_WITH_NOTICE"
    (latest,) = hub.crm.statuses()
    assert latest["status"] == "UNSUBSCRIBED"
    contact = hub.crm.record_by("contacts", "email", "ada@example.test")
    assert contact is not None and contact["inkbridge_marketing_allowed"] == "false"


async def test_denied_consent_unsubscribes_and_unmapped_kinds_are_not_sent(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    result = await connector(client).apply(
        [consent_change(1, {"marketing_email": "denied", "profiling": "granted"})]
    )

    assert result.results[0].ok
    assert [s["status"] for s in hub.crm.statuses()] == ["UNSUBSCRIBED"]


async def test_a_subscription_hubspot_refuses_fails_only_that_change(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    options = HubSpotOptions(owners=OPTIONS.owners, subscriptions={"marketing_email": 424242})

    result = await connector(client, options).apply(
        [consent_change(1, {"marketing_email": "granted"}), envelope_change(2, "sent")]
    )

    assert result.results[0].ok is False
    assert result.results[0].retryable is False
    assert result.results[1].ok


async def test_journeys_join_the_mapped_list_and_unmapped_ones_are_ignored(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    result = await connector(client).apply(
        [journey_change(1, "onboarding"), journey_change(2, "nurture"), suppress_change(3)]
    )

    assert [r.ok for r in result.results] == [True, True, True]
    contact = hub.crm.record_by("contacts", "email", "ada@example.test")
    assert contact is not None
    assert hub.crm.list_members() == {
        "77": [contact["hs_object_id"]],
        "99": [contact["hs_object_id"]],
    }


async def test_journeys_are_ignored_without_a_lists_option(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    result = await connector(client, HubSpotOptions()).apply(
        [journey_change(1), suppress_change(2)]
    )

    assert [r.ok for r in result.results] == [True, True]
    assert hub.state()["requests"]["requests_total"] == 0


async def test_a_task_is_created_once_even_when_a_retry_is_uncertain(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    hubspot = connector(client)

    first = await hubspot.apply([task_change(1, "task_1")])
    retry = await hubspot.apply([task_change(1, "task_1", uncertain=True)])

    assert first.results[0].ok and retry.results[0].ok
    (task,) = hub.crm.records("tasks")
    assert task["inkbridge_task_key"] == "task_1"
    assert task["hs_task_subject"] == "Call Ada: NDA signed"
    assert task["hubspot_owner_id"] == "101"
    contact = hub.crm.record_by("contacts", "email", "ada@example.test")
    assert contact is not None
    assert {
        "from": ["tasks", task["hs_object_id"]],
        "to": ["contacts", contact["hs_object_id"]],
    } in (hub.crm.associations())
    assert hub.by_route["search"] == 1  # only the uncertain attempt searched


async def test_an_uncertain_task_that_never_landed_is_created(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    result = await connector(client).apply([task_change(1, "task_9", uncertain=True)])

    assert result.results[0].ok
    assert [t["inkbridge_task_key"] for t in hub.crm.records("tasks")] == ["task_9"]


async def test_a_contact_hubspot_refuses_fails_alone_in_a_multi_status_answer(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    bad = lead("lead_2", "not-an-email")

    result = await connector(client).apply([lead_change(1), lead_change(2, bad)])

    assert result.results[0].ok
    assert result.results[1].ok is False and result.results[1].retryable is False
    assert "VALIDATION_ERROR" in (result.results[1].error or "")
    assert "not-an-email" not in (result.results[1].error or "")  # no personal data in reasons
    assert [c["email"] for c in hub.crm.records("contacts")] == ["ada@example.test"]


async def test_an_unmapped_owner_hubspot_refuses_fails_that_change_only(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    result = await connector(client).apply(
        [
            lead_change(1, lead("lead_1", owner="owner-7")),
            lead_change(2, lead("lead_2", "b@example.test", owner="someone")),
        ]
    )

    assert [r.ok for r in result.results] == [True, False]


async def test_a_whole_request_400_is_bisected_to_the_input_hubspot_refuses(
    client: httpx.AsyncClient, hub: HubSpotEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_upsert = hub.crm.upsert

    def strict_upsert(obj: str, inputs: Any) -> Any:
        if any(i["id"] == "poison@example.test" for i in inputs):
            raise HubSpotRefusal(400, "VALIDATION_ERROR", "Property values were not valid")
        return real_upsert(obj, inputs)

    monkeypatch.setattr(hub.crm, "upsert", strict_upsert)
    changes = [lead_change(i, lead(f"lead_{i}", f"p{i}@example.test")) for i in range(1, 5)]
    changes.insert(2, lead_change(9, lead("lead_9", "poison@example.test")))

    result = await connector(client).apply(changes)

    assert {r.outbox_id: r.ok for r in result.results} == {
        1: True,
        2: True,
        9: False,
        3: True,
        4: True,
    }
    assert len(hub.crm.records("contacts")) == 4


async def test_no_email_means_no_contact_and_the_change_fails_permanently(
    client: httpx.AsyncClient,
) -> None:
    result = await connector(client).apply([lead_change(1, lead(email=None))])

    assert result.results[0].ok is False and result.results[0].retryable is False


async def test_an_envelope_without_a_known_email_is_written_without_association(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    result = await connector(client).apply([envelope_change(1, "sent", person={})])

    assert result.results[0].ok
    assert len(hub.crm.records("deals")) == 1
    assert hub.crm.associations() == []


async def test_other_kinds_are_acknowledged_without_a_request(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    change = envelope_change(1)
    other = type(change)(**{**change.__dict__, "kind": "recipient.status_changed"})

    result = await connector(client).apply([other])

    assert result.results[0].ok
    assert hub.state()["requests"]["requests_total"] == 0


# -- errors and rate limits -----------------------------------------------------------------


async def test_hubspots_own_rate_limit_is_retryable_with_the_wait_from_its_headers(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    hub.window.set_limit(1)

    with pytest.raises(RetryableError) as caught:
        await connector(client).apply([envelope_change(1, "sent")])

    assert caught.value.retry_after == 10.0  # X-HubSpot-RateLimit-Interval-Milliseconds
    assert "TEN_SECONDLY_ROLLING" in caught.value.reason


@pytest.mark.parametrize("fault", [RATE_LIMIT, ERROR_500, DOWN])
async def test_injected_faults_are_retryable(client: httpx.AsyncClient, fault: Any) -> None:
    await assert_fault_is_retryable(
        client, fault, lambda: connector(client).apply([envelope_change(1)])
    )


async def test_a_timeout_is_retryable(app: Starlette) -> None:
    await assert_timeout_is_retryable(
        app, BASE, "/batch/upsert", lambda c: lambda: connector(c).apply([lead_change(1)])
    )


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


async def test_a_task_whose_answer_was_lost_is_not_created_again(
    app: Starlette, hub: HubSpotEmulator
) -> None:
    lossy = AnswerLostOn(app, "/crm/v3/objects/tasks")
    async with httpx.AsyncClient(transport=lossy, base_url=BASE) as c:
        with pytest.raises(RetryableError):
            await connector(c).apply([task_change(1)])
        retry = await connector(c).apply([task_change(1, uncertain=True)])

    assert lossy.lost == 1
    assert retry.results[0].ok
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


# -- auth ----------------------------------------------------------------------------------


def oauth(client: httpx.AsyncClient, refresh_token: str = "emulator-refresh") -> HubSpotOAuth:
    return HubSpotOAuth(
        token_url=BASE + "/oauth/v1/token",
        client_id="emulator-client",
        client_secret="emulator-secret",
        refresh_token=refresh_token,
        client=client,
    )


async def test_an_oauth_access_token_is_cached_across_batches(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    auth = oauth(client)
    hubspot = connector(client, auth=auth)

    await hubspot.apply([lead_change(1)])
    await hubspot.apply([lead_change(2)])

    assert auth.exchanges == hub.token_exchanges == 1


async def test_an_expired_access_token_is_refreshed_once_on_401(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    auth = oauth(client)
    hubspot = connector(client, auth=auth)
    await hubspot.apply([lead_change(1)])
    await client.post("/_tokens/expire")

    result = await hubspot.apply([lead_change(2)])

    assert result.results[0].ok
    assert auth.exchanges == 2


async def test_an_access_token_is_refreshed_before_it_ends(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    now = [0.0]
    auth = HubSpotOAuth(
        token_url=BASE + "/oauth/v1/token",
        client_id="emulator-client",
        client_secret="emulator-secret",
        refresh_token="emulator-refresh",
        client=client,
        clock=lambda: now[0],
    )
    first = await auth.token()
    now[0] = 1499.0  # 30-minute token, refreshed five minutes early
    assert await auth.token() == first
    now[0] = 1501.0

    assert await auth.token() != first
    assert auth.exchanges == 2


async def test_a_bad_refresh_token_is_permanent(client: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentError) as caught:
        await connector(client, auth=oauth(client, "stolen")).apply([lead_change(1)])

    assert "BAD_REFRESH_TOKEN" in caught.value.reason


# -- configuration -------------------------------------------------------------------------


async def test_from_settings_reads_credentials_and_options(
    client: httpx.AsyncClient, hub: HubSpotEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HS_TOKEN", "pat-emulator")
    dest = DestinationSettings(
        kind="hubspot",
        url=BASE,
        credentials={"token": "env:HS_TOKEN"},
        options={"envelope_object": "p_envelopes", "owners": {"owner-7": "101"}},
        fields={"envelope_status": "inkbridge_state", "contact.company": ""},
        batch_size=500,
    )

    hubspot = from_settings("crm", dest, client)
    result = await hubspot.apply([envelope_change(1, "sent")])

    assert hubspot.max_batch == 100
    assert result.results[0].ok
    (record,) = hub.crm.records("p_envelopes")
    assert record["inkbridge_state"] == "sent"
    (contact,) = hub.crm.records("contacts")
    assert "company" not in contact


async def test_from_settings_builds_oauth_from_a_refresh_token(
    client: httpx.AsyncClient, hub: HubSpotEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HS_SECRET", "emulator-secret")
    monkeypatch.setenv("HS_REFRESH", "emulator-refresh")
    dest = DestinationSettings(
        kind="hubspot",
        url=BASE,
        credentials={"client_secret": "env:HS_SECRET", "refresh_token": "env:HS_REFRESH"},
        options={"client_id": "emulator-client", "owners": {"owner-7": "101"}},
    )

    result = await from_settings("crm", dest, client).apply([lead_change(1)])

    assert result.results[0].ok
    assert hub.token_exchanges == 1


@pytest.mark.parametrize(
    "credentials,options",
    [
        ({}, {}),
        ({"client_secret": "env:X", "refresh_token": "env:X"}, {}),
        ({"token": "env:X"}, {"owners": ["a"]}),
    ],
)
def test_from_settings_refuses_incomplete_config(
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    credentials: dict[str, str],
    options: dict[str, Any],
) -> None:
    monkeypatch.setenv("X", "x")
    dest = DestinationSettings(kind="hubspot", credentials=credentials, options=options)

    with pytest.raises(ConfigError):
        from_settings("crm", dest, client)


# -- the emulator --------------------------------------------------------------------------

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
