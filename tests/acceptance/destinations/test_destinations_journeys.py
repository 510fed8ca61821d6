"""Seven destinations end to end: HubSpot, Salesforce, Dynamics 365, Pipedrive (CRMs), Marketo,
Mautic (marketing) and a Standard Webhooks receiver, each fed by one ``inkbridge serve`` from
signed sandbox webhooks, with every vendor emulator its own process.

What is shown, always on the destinations' own state (``GET /_state``, the receiver's verified
deliveries) and inkbridge's outbox as its API reports it, never on mocks:

- envelopes driven through their lifecycle land as the right records, fields and associations in
  every destination; an owner change reaches every destination while first touch stays as it
  was, including a value another tool wrote first;
- each default journey rule (onboarding, nurture, a task for the owner, suppression) and a
  consent withdrawal, before the transition and between queueing and sending;
- an outage (HubSpot killed and started again on the same port and database, Mautic's gateway
  timing out with two attempts allowed): nothing lost, nothing twice, nothing out of order, and
  Mautic's dead letters delivered once replayed;
- HubSpot's 20-requests-per-10-seconds quota is never exceeded by a burst, and the burst lands.

The stack is shared by the modules of this folder (starting it takes seconds); tests use their
own leads. This module: records and the journey rules; the outage and the quota are the other
module's.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.acceptance.destination_stack import (
    DECLINED,
    EXPIRED,
    SIGNED,
    DestinationStack,
    Driven,
    Lead,
    seed_first_touch,
    snapshot,
    unique_email,
)
from tests.acceptance.destination_vendors import (
    CRMS,
    DESTINATIONS,
    MARKETING,
    MARKETO_CAMPAIGNS,
    MARKETO_LISTS,
    MAUTIC_CAMPAIGNS,
    MAUTIC_SEGMENTS,
)
from tests.acceptance.destination_views import record_view, vendor_owner
from tests.acceptance.stack import poll_until

from .support import (
    SEEDED_SOURCE,
    assert_lands,
    assert_one_task_for_the_owner,
    crm_tasks,
    expected_first_touch,
    journey_rows,
    marketo_lead,
    mautic_contact,
    members,
    task_key,
)

pytestmark = pytest.mark.slow


@dataclass
class Story:
    """The shared lifecycle: one envelope per lead, every path a default rule reacts to."""

    ada: Driven  # marketing consent, completed; first touch pre-seeded in Marketo and Mautic
    grace: Driven  # no marketing consent, completed
    alan: Driven  # declined
    joan: Driven  # marketing consent, expired
    hedy: Driven  # marketing consent withdrawn after viewing, then expired

    @property
    def envelopes(self) -> list[Driven]:
        return [self.ada, self.grace, self.alan, self.joan, self.hedy]

    @property
    def leads(self) -> list[Lead]:
        return [d.lead for d in self.envelopes]


@pytest.fixture(scope="module")
def story(stack: DestinationStack) -> Story:
    ada_email = unique_email("ada")
    seed_first_touch(stack, ada_email, SEEDED_SOURCE)
    ada = stack.lead("ada", "alice", marketing=True, campaign="spring-launch", email=ada_email)
    grace = stack.lead("grace", "bob", marketing=False, campaign="webinar")
    alan = stack.lead("alan", "alice", marketing=True, campaign="partner")
    joan = stack.lead("joan", "bob", marketing=True, campaign="retarget")
    hedy = stack.lead("hedy", "alice", marketing=True, campaign="spring-launch")
    hedy_open = stack.drive(hedy, ("document_sent", "document_viewed"))
    stack.withdraw_marketing(hedy)
    told = Story(
        ada=stack.drive(ada, SIGNED),
        grace=stack.drive(grace, SIGNED),
        alan=stack.drive(alan, DECLINED),
        joan=stack.drive(joan, EXPIRED),
        hedy=stack.carry_on(hedy_open, ("document_expired",)),
    )
    stack.wait_settled(told.leads)
    return told


# -- 1. records, fields and associations in every destination -----------------------------------


@pytest.mark.parametrize("destination", DESTINATIONS)
def test_every_envelope_lands_in_the_destination_with_its_status_milestones_and_person(
    stack: DestinationStack, story: Story, destination: str
) -> None:
    assert_lands(stack, destination, story.envelopes, seeded=story.ada.lead)


def test_an_owner_change_reaches_every_destination_and_first_touch_never_changes(
    stack: DestinationStack, story: Story
) -> None:
    ada = story.ada
    before = {
        d: record_view(d, snapshot(stack, d), ada.envelope_id, ada.lead.email) for d in DESTINATIONS
    }
    assert {d: v.person_owner for d, v in before.items()} == {
        d: vendor_owner(d, "alice") for d in DESTINATIONS
    }
    stack.set_owner(ada.lead, "bob")
    stack.wait_settled([ada.lead])
    after = {
        d: record_view(d, snapshot(stack, d), ada.envelope_id, ada.lead.email) for d in DESTINATIONS
    }
    assert {d: v.person_owner for d, v in after.items()} == {
        d: vendor_owner(d, "bob") for d in DESTINATIONS
    }
    for destination in DESTINATIONS:
        was, now = before[destination], after[destination]
        assert now.first_touch == was.first_touch, destination
        assert now.first_touch == expected_first_touch(destination, ada, ada.lead), destination
        # The envelope record itself is as it was; nothing was created twice.
        assert (now.status, now.milestones, now.records, now.people) == (
            was.status,
            was.milestones,
            1,
            1,
        ), destination
    # Zapier and friends get the change as an event, first touch as frozen at capture.
    updates = [e for e in stack.receiver.received() if e.type == "lead.updated"]
    (update,) = [e for e in updates if e.data["lead"]["id"] == ada.lead.id]
    assert update.data["lead"]["owner"] == "bob"
    assert update.data["lead"]["first_touch"]["utm_source"] == "newsletter"


# -- 2. the default journey rules -----------------------------------------------------------------


def test_completed_with_marketing_consent_enters_onboarding_in_marketo_and_mautic(
    stack: DestinationStack, story: Story
) -> None:
    email = story.ada.lead.email
    marketo = snapshot(stack, "marketo")
    lead = marketo_lead(marketo, email)
    assert lead["id"] in members(marketo["lists"], MARKETO_LISTS["onboarding"])
    assert lead["id"] not in members(marketo["lists"], MARKETO_LISTS["nurture"])
    runs = [r["campaign_id"] for r in marketo["campaign_runs"] if r["lead_id"] == lead["id"]]
    assert runs == [MARKETO_CAMPAIGNS["onboarding"]]  # requested once
    assert lead["unsubscribed"] is False
    mautic = snapshot(stack, "mautic")
    contact = mautic_contact(mautic, email)
    assert contact["id"] in members(mautic["segments"], MAUTIC_SEGMENTS["onboarding"])
    assert contact["id"] in members(mautic["campaigns"], MAUTIC_CAMPAIGNS["onboarding"])
    assert contact["id"] not in members(mautic["segments"], MAUTIC_SEGMENTS["nurture"])
    assert contact["doNotContact"] == []
    assert journey_rows(stack, story.ada.lead) == {
        ("marketo", "completed_onboarding", "delivered"),
        ("mautic", "completed_onboarding", "delivered"),
    }


def test_expired_with_marketing_consent_goes_back_into_nurture(
    stack: DestinationStack, story: Story
) -> None:
    email = story.joan.lead.email
    marketo = snapshot(stack, "marketo")
    lead = marketo_lead(marketo, email)
    assert lead["id"] in members(marketo["lists"], MARKETO_LISTS["nurture"])
    assert lead["id"] not in members(marketo["lists"], MARKETO_LISTS["onboarding"])
    assert [r for r in marketo["campaign_runs"] if r["lead_id"] == lead["id"]] == []
    mautic = snapshot(stack, "mautic")
    contact = mautic_contact(mautic, email)
    assert contact["id"] in members(mautic["segments"], MAUTIC_SEGMENTS["nurture"])
    assert contact["id"] not in members(mautic["segments"], MAUTIC_SEGMENTS["onboarding"])
    assert contact["id"] not in members(mautic["campaigns"], MAUTIC_CAMPAIGNS["onboarding"])
    assert journey_rows(stack, story.joan.lead) == {
        ("marketo", "expired_nurture", "delivered"),
        ("mautic", "expired_nurture", "delivered"),
    }


def test_declined_creates_exactly_one_task_for_the_owner_in_each_crm(
    stack: DestinationStack, story: Story
) -> None:
    assert_one_task_for_the_owner(stack, story.alan)
    assert journey_rows(stack, story.alan.lead) == {
        (crm, "declined_task", "delivered") for crm in CRMS
    }
    # No other path of the story made a task anywhere.
    for driven in story.envelopes:
        if driven is not story.alan:
            assert crm_tasks(stack, task_key(driven)) == {crm: [] for crm in CRMS}


def test_completed_without_marketing_consent_suppresses_the_contact_and_skips_onboarding(
    stack: DestinationStack, story: Story
) -> None:
    email = story.grace.lead.email
    marketo = snapshot(stack, "marketo")
    lead = marketo_lead(marketo, email)
    assert lead["unsubscribed"] is True
    assert lead["id"] not in members(marketo["lists"], MARKETO_LISTS["onboarding"])
    assert [r for r in marketo["campaign_runs"] if r["lead_id"] == lead["id"]] == []
    mautic = snapshot(stack, "mautic")
    contact = mautic_contact(mautic, email)
    assert [(d["channel"], d["reason"], d["comments"]) for d in contact["doNotContact"]] == [
        ("email", 3, "inkbridge: suppressed")
    ]
    assert contact["id"] not in members(mautic["segments"], MAUTIC_SEGMENTS["onboarding"])
    assert contact["id"] not in members(mautic["campaigns"], MAUTIC_CAMPAIGNS["onboarding"])
    assert journey_rows(stack, story.grace.lead) == {
        ("marketo", "completed_suppress", "delivered"),
        ("mautic", "completed_suppress", "delivered"),
    }
    # The deal is won all the same.
    for crm in CRMS:
        snap = snapshot(stack, crm)
        assert record_view(crm, snap, story.grace.envelope_id, email).status == "completed"


def test_a_withdrawal_stops_later_marketing_while_contract_status_keeps_syncing(
    stack: DestinationStack, story: Story
) -> None:
    hedy = story.hedy
    email = hedy.lead.email
    # Expired after the withdrawal: no nurture anywhere, not even queued.
    assert journey_rows(stack, hedy.lead) == set()
    marketo = snapshot(stack, "marketo")
    lead = marketo_lead(marketo, email)
    assert lead["unsubscribed"] is True
    assert lead["id"] not in members(marketo["lists"], MARKETO_LISTS["nurture"])
    mautic = snapshot(stack, "mautic")
    contact = mautic_contact(mautic, email)
    assert contact["id"] not in members(mautic["segments"], MAUTIC_SEGMENTS["nurture"])
    assert [(d["channel"], d["comments"]) for d in contact["doNotContact"]] == [
        ("email", "inkbridge: consent withdrawn")
    ]
    # The contract's status still reaches every destination.
    for destination in DESTINATIONS:
        view = record_view(destination, snapshot(stack, destination), hedy.envelope_id, email)
        assert (view.status, view.milestones) == ("expired", hedy.milestones), destination
    # And each CRM records the withdrawal its own way.
    hub = stack.emulators["hubspot"].state()
    assert [c["status"] for c in hub["consents"] if c["subscriberIdString"] == email] == [
        "UNSUBSCRIBED"
    ]
    sf = stack.emulators["salesforce"].state()
    (person,) = [p for p in sf["objects"]["Lead"] if p["Email"] == email]
    assert person["HasOptedOutOfEmail"] is True
    consent_key = f"{hedy.lead.id}:marketing_email"
    (consent,) = [c for c in sf["consents"] if c["Inkbridge_Consent_Key__c"] == consent_key]
    assert consent["PrivacyConsentStatus"] == "OptOut"
    dyn = stack.emulators["dynamics"].state()
    (person,) = [c for c in dyn["objects"]["contacts"] if c["emailaddress1"] == email]
    assert person["donotbulkemail"] is True
    pd = stack.emulators["pipedrive"].state()
    (person,) = [p for p in pd["persons"] if p["emails"][0]["value"] == email]
    assert person["marketing_status"] == "unsubscribed"


def test_a_withdrawal_between_queueing_and_sending_suppresses_the_queued_journey(
    stack: DestinationStack,
) -> None:
    marketo = stack.emulators["marketo"]
    rosa = stack.lead("rosa", "alice", marketing=True, campaign="spring-launch")
    opened = stack.drive(rosa, SIGNED[:-1])
    stack.wait_settled([rosa], MARKETING)
    marketo.fault("down")  # Marketo holds the completion and its onboarding action back
    try:
        done = stack.carry_on(opened, SIGNED[-1:])

        def queued() -> bool:
            rows = {
                d["destination"]: d
                for d in stack.deliveries(rosa)
                if d["fact"].endswith(":journey:completed_onboarding")
            }
            mautic, held = rows.get("mautic"), rows.get("marketo")
            return bool(
                mautic is not None
                and mautic["status"] == "delivered"
                and held is not None
                and held["status"] == "pending"
                and any(a["outcome"] == "retry" for a in held["attempts"])
            )

        poll_until(queued, "Mautic to take the onboarding action and Marketo to refuse it")
        stack.withdraw_marketing(rosa)

        def suppressed() -> bool:
            return ("marketo", "completed_onboarding", "suppressed") in journey_rows(stack, rosa)

        # Settled at its next claim, before any request: Marketo may answer again after that.
        poll_until(suppressed, "the queued onboarding action to be suppressed", timeout=45)
    finally:
        marketo.fault("ok")
    stack.wait_settled([rosa], MARKETING)
    assert journey_rows(stack, rosa) == {
        ("mautic", "completed_onboarding", "delivered"),  # sent while consent stood
        ("marketo", "completed_onboarding", "suppressed"),  # checked again when sent: withdrawn
    }
    snap = snapshot(stack, "marketo")
    lead = marketo_lead(snap, rosa.email)
    assert lead["id"] not in members(snap["lists"], MARKETO_LISTS["onboarding"])
    assert [r for r in snap["campaign_runs"] if r["lead_id"] == lead["id"]] == []
    assert lead["unsubscribed"] is True
    # The contract status got through once Marketo was back.
    assert_lands(stack, "marketo", [done])
