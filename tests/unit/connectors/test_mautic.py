"""The Mautic connector against the Mautic emulator, in process over httpx.ASGITransport."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from inkbridge.config import DestinationSettings
from inkbridge.connectors.mautic.connector import JourneyTarget, MauticConnector, from_settings
from inkbridge.errors import ConfigError, PermanentError
from inkbridge_emulators.mautic import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
    MauticEmulator,
    create_mautic_app,
)
from inkbridge_emulators.mautic_state import MauticRefusal

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
)

BASE = "http://mautic.test"
ONBOARDING_SEGMENT = 11
NURTURE_CAMPAIGN = 22
SUPPRESS_SEGMENT = 99
JOURNEYS = {
    "onboarding": JourneyTarget(segment_id=ONBOARDING_SEGMENT),
    "nurture": JourneyTarget(campaign_id=NURTURE_CAMPAIGN),
}


def emulator_of(app: Starlette) -> MauticEmulator:
    return emulator_in(app, MauticEmulator)


def contact_fields(app: Starlette, email: str = EMAIL) -> dict[str, Any]:
    (found,) = emulator_of(app).by_email(email)
    return dict(found["fields"])


def dnc_of(app: Starlette, email: str = EMAIL) -> list[dict[str, Any]]:
    (found,) = emulator_of(app).by_email(email)
    return list(found["dnc"])


def routes(app: Starlette) -> dict[str, int]:
    return dict(emulator_of(app).traffic.by_route)


@pytest.fixture
def app() -> Starlette:
    return create_mautic_app()


def connector(client: httpx.AsyncClient, **extra: Any) -> MauticConnector:
    settings: dict[str, Any] = {
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "journeys": JOURNEYS,
        "suppress_segment_id": SUPPRESS_SEGMENT,
        **extra,
    }
    return MauticConnector("mautic", BASE, client, **settings)


async def test_lifecycle_changes_create_then_patch_one_contact(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    await apply_sent_then_completed(connector(client))

    fields = contact_fields(app)
    assert fields["inkbridge_envelope_status"] == "completed"
    assert fields["inkbridge_completed_at"] == "2024-05-01T10:00:00+00:00"
    assert (fields["firstname"], fields["lastname"]) == ("Ada", "Lovelace")
    assert routes(app)["POST /api/contacts/batch/new"] == 1
    assert routes(app)["PATCH /api/contacts/batch/edit"] == 1
    assert "PUT /api/contacts/batch/edit" not in routes(app)


async def test_edits_never_blank_fields_the_change_does_not_carry(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    emulator_of(app).new_contacts([{"email": EMAIL, "phone": "+44 20 7946 0000", "city": "London"}])

    await connector(client).apply([lead_change(lead_body=lead(first_name="Augusta"))])

    fields = contact_fields(app)
    assert fields["firstname"] == "Augusta"
    assert (fields["phone"], fields["city"]) == ("+44 20 7946 0000", "London")


async def test_the_emulator_shows_why_put_is_never_used(app: Starlette) -> None:
    emulator = emulator_of(app)
    outcome = emulator.new_contacts([{"email": EMAIL, "phone": "+44 20 7946 0000"}])

    emulator.edit_contacts([{"id": outcome.contacts[0]["id"], "email": EMAIL}], "PUT")

    assert "phone" not in contact_fields(app)


async def test_first_touch_is_written_once_and_never_overwritten(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    mautic = connector(client)
    await mautic.apply([envelope_change("sent", lead_body=lead(utm_source="newsletter"))])

    await connector(client).apply(
        [envelope_change("completed", lead_body=lead(utm_source="retargeting"))]
    )

    fields = contact_fields(app)
    assert fields["inkbridge_first_touch_utm_source"] == "newsletter"
    assert fields["inkbridge_first_touch_gclid"] == "g-123"
    assert fields["inkbridge_envelope_status"] == "completed"


async def test_withdrawn_consent_adds_email_do_not_contact_and_a_grant_removes_it(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    mautic = connector(client)

    await mautic.apply([consent_change("withdrawn")])
    (entry,) = dnc_of(app)
    assert (entry["channel"], entry["reason"]) == ("email", 3)

    granted = await mautic.apply([consent_change("granted")])
    assert granted.results[0].ok
    assert dnc_of(app) == []


async def test_denied_consent_is_do_not_contact(app: Starlette, client: httpx.AsyncClient) -> None:
    await connector(client).apply([consent_change("denied")])

    assert [e["channel"] for e in dnc_of(app)] == ["email"]


async def test_a_grant_never_lifts_an_unsubscribe_or_bounce_mautic_recorded(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    emulator = emulator_of(app)
    contact_id = emulator.new_contacts([{"email": EMAIL}]).contacts[0]["id"]
    emulator.add_dnc(contact_id, "email", 1, "Unsubscribed via email link")

    result = await connector(client).apply([consent_change("granted")])

    assert result.results[0].ok
    assert [e["reason"] for e in dnc_of(app)] == [1]


@pytest.mark.parametrize(
    ("journey", "kind", "target"),
    [
        pytest.param("onboarding", "segment", ONBOARDING_SEGMENT, id="to-the-configured-segment"),
        pytest.param("nurture", "campaign", NURTURE_CAMPAIGN, id="to-the-configured-campaign"),
    ],
)
async def test_journey_enter_adds_the_contact(
    app: Starlette, client: httpx.AsyncClient, journey: str, kind: str, target: int
) -> None:
    result = await connector(client).apply([journey_change(journey)])

    assert result.results[0].ok
    (contact,) = emulator_of(app).contacts
    assert emulator_of(app).members(kind) == {target: [contact]}


async def test_journey_enter_without_marketing_consent_is_refused(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    no_consent = lead(consent={"marketing_email": "withdrawn"}, marketing_allowed=False)

    result = await connector(client).apply([journey_change("onboarding", no_consent)])

    assert not result.results[0].ok and not result.results[0].retryable
    assert routes(app) == {}


async def test_a_missing_segment_fails_only_that_change() -> None:
    app = create_mautic_app(segments=frozenset({SUPPRESS_SEGMENT}))
    async with asgi_client(app, BASE) as client:
        result = await connector(client).apply(
            [journey_change("onboarding"), lead_change(lead_body=lead("lead_2", "bo@example.test"))]
        )

    journey, update = result.results
    assert not journey.ok and not journey.retryable
    assert journey.error == "mautic answered 404 for segments"
    assert update.ok


async def test_marketing_suppress_sets_do_not_contact_and_the_suppression_segment(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    result = await connector(client).apply([suppress_change()])

    assert result.results[0].ok
    assert [e["channel"] for e in dnc_of(app)] == ["email"]
    (contact,) = emulator_of(app).contacts
    assert emulator_of(app).members("segment") == {SUPPRESS_SEGMENT: [contact]}


async def test_two_changes_of_one_contact_in_a_batch_make_one_contact(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    result = await connector(client).apply(
        [envelope_change("sent"), consent_change("withdrawn"), journey_change("onboarding")]
    )

    assert [r.ok for r in result.results] == [True, True, True]
    assert len(emulator_of(app).contacts) == 1
    assert result.meta["rounds"] == 3


async def test_an_invalid_email_fails_only_its_change(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    result = await connector(client).apply(
        [lead_change(lead_body=lead("lead_9", "not-an-email")), lead_change()]
    )

    failed, ok = result.results
    assert not failed.ok and not failed.retryable
    assert failed.error == "mautic refused the contact (400)"
    assert ok.ok
    assert len(emulator_of(app).contacts) == 1


async def test_a_contact_deleted_in_mautic_is_found_again_on_retry(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    bare = lead()
    bare["first_touch"] = {}  # nothing to read first: the cached id is used as it is
    mautic = connector(client)
    await mautic.apply([lead_change(lead_body=bare)])
    (contact_id,) = emulator_of(app).contacts
    emulator_of(app).store.delete("contact", contact_id)

    stale = await mautic.apply([lead_change(lead_body=bare)])
    retried = await mautic.apply([lead_change(lead_body=bare)])

    assert stale.results[0].retryable
    assert retried.results[0].ok
    assert len(emulator_of(app).contacts) == 1


async def test_duplicate_contacts_by_email_always_resolve_to_the_oldest(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    emulator = emulator_of(app)
    first = emulator.new_contacts([{"email": EMAIL}]).contacts[0]["id"]
    emulator.edit_contacts([{"email": EMAIL, "id": 999}], "PUT")  # PUT on a new id: a duplicate

    await connector(client).apply([lead_change()])

    assert emulator.contacts[first]["fields"]["firstname"] == "Ada"


async def test_basic_auth_works_and_a_wrong_password_is_permanent(app: Starlette) -> None:
    async with asgi_client(app, BASE) as client:
        basic = MauticConnector(
            "mautic", BASE, client, username=DEFAULT_USERNAME, password=DEFAULT_PASSWORD
        )
        assert (await basic.apply([lead_change()])).results[0].ok

        wrong = MauticConnector("mautic", BASE, client, username=DEFAULT_USERNAME, password="x")
        with pytest.raises(PermanentError):
            await wrong.apply([lead_change()])


async def test_a_failure_after_writing_marks_the_rest_retryable(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    first, second = envelope_change("sent"), consent_change("withdrawn")

    # Round 1: look up, create; round 2: its look-up (the third request) finds Mautic down.
    result = await _apply_with_fault_after(app, connector(client), [first, second], 3)

    assert result.results[0].ok
    assert not result.results[1].ok and result.results[1].retryable


async def test_the_batch_limit_is_mautics(app: Starlette) -> None:
    with pytest.raises(ConfigError):
        MauticConnector("m", BASE, httpx.AsyncClient(), username="u", password="p", max_batch=201)

    with pytest.raises(MauticRefusal):
        emulator_of(app).new_contacts([{"email": f"p{n}@example.test"} for n in range(201)])


async def test_from_settings_builds_working_oauth_and_basic_connectors(
    app: Starlette, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAUTIC_SECRET", DEFAULT_CLIENT_SECRET)
    monkeypatch.setenv("MAUTIC_PASSWORD", DEFAULT_PASSWORD)
    oauth = DestinationSettings(
        kind="mautic",
        url=BASE,
        options={
            "client_id": DEFAULT_CLIENT_ID,
            "journeys": {"onboarding": {"segment_id": 3}},
            "suppress_segment_id": 4,
        },
        credentials={"client_secret": "env:MAUTIC_SECRET"},
        batch_size=500,
    )
    basic = DestinationSettings(
        kind="mautic",
        url=BASE,
        options={"username": DEFAULT_USERNAME},
        credentials={"password": "env:MAUTIC_PASSWORD"},
    )

    with_oauth = from_settings("m", oauth, client)
    with_basic = from_settings("m", basic, client)
    journey = await with_oauth.apply([journey_change("onboarding")])
    update = await with_basic.apply([lead_change(lead_body=lead(first_name="Augusta"))])

    assert (with_oauth.max_batch, with_basic.max_batch) == (200, 100)
    assert journey.results[0].ok and update.results[0].ok
    assert set(emulator_of(app).members("segment")) == {3}
    assert contact_fields(app)["firstname"] == "Augusta"


async def _apply_with_fault_after(
    app: Starlette, mautic: MauticConnector, changes: list[Any], at_request: int
) -> Any:
    """Apply, switching the emulator to ``down`` from its ``at_request``-th request on."""
    emulator = emulator_of(app)
    original = emulator.traffic.count

    def count(request: Any) -> None:
        original(request)
        if sum(emulator.traffic.by_route.values()) == at_request:
            emulator.faults.plan.mode = "down"

    emulator.traffic.count = count  # type: ignore[method-assign]
    return await mautic.apply(changes)
