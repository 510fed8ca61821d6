"""The Marketo connector writes leads, consent, journeys and suppression, never duplicating
a lead; against the Marketo emulator, in process over httpx.ASGITransport."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette

from inkbridge_emulators.marketo import create_marketo_app

from ..marketing_payloads import (
    EMAIL,
    apply_sent_then_completed,
    consent_change,
    envelope_change,
    journey_change,
    lead,
    lead_change,
    suppress_change,
    task_change,
)
from .support import (
    NURTURE_CAMPAIGN,
    ONBOARDING_LIST,
    SUPPRESS_LIST,
    connector,
    emulator_of,
    lead_by_email,
    routes,
)


async def test_lifecycle_changes_update_one_lead_with_status_and_milestones(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await apply_sent_then_completed(connector(client))

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
