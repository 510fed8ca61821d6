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

The stack is shared by the module (starting it takes seconds); tests use their own leads.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
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
    start_destination_stack,
    unique_email,
)
from tests.acceptance.destination_vendors import (
    CRMS,
    DESTINATIONS,
    HUBSPOT_LIMIT,
    MARKETING,
    MARKETO_CAMPAIGNS,
    MARKETO_LISTS,
    MAUTIC_CAMPAIGNS,
    MAUTIC_SEGMENTS,
    OWNERS,
    STATE_RANK,
)
from tests.acceptance.destination_views import record_view, state_changes, vendor_owner
from tests.acceptance.stack import poll_until

pytestmark = pytest.mark.slow

SEEDED_SOURCE = "legacy-import"  # what another tool wrote into first touch before inkbridge


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DestinationStack]:
    running = start_destination_stack(Path(tmp_path_factory.mktemp("destinations")))
    try:
        yield running
    finally:
        running.stop()


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


# -- helpers ------------------------------------------------------------------------------------


def expected_first_touch(destination: str, driven: Driven, seeded: Lead | None) -> dict[str, str]:
    source = "newsletter"
    if seeded is not None and driven.lead is seeded and destination in ("marketo", "mautic"):
        source = SEEDED_SOURCE  # there before inkbridge: never overwritten
    return {"utm_source": source, "utm_campaign": driven.lead.campaign}


def assert_lands(
    stack: DestinationStack,
    destination: str,
    envelopes: list[Driven],
    seeded: Lead | None = None,
) -> None:
    """Every envelope shows its final status and milestones in ``destination``, exactly one
    record per envelope and per person, linked together, with owner and first touch."""
    snap = snapshot(stack, destination)
    for driven in envelopes:
        view = record_view(destination, snap, driven.envelope_id, driven.lead.email)
        where = f"{destination}: envelope {driven.envelope_id} ({driven.states})"
        assert view.status == driven.state, f"{where}: {view}"
        assert view.milestones == driven.milestones, f"{where}: {view}"
        assert (view.records, view.people) == (1, 1), f"{where}: duplicates? {view}"
        assert view.linked, f"{where}: the record is not tied to its person: {view}"
        if destination in CRMS:
            assert view.owner == vendor_owner(destination, driven.owner), f"{where}: {view}"
        assert view.person_owner == vendor_owner(destination, driven.lead.owner), where
        assert view.first_touch == expected_first_touch(destination, driven, seeded), where
    if destination == "webhook":
        assert stack.receiver.invalid == 0
        for driven in envelopes:
            changes = state_changes(snap, driven.envelope_id)
            # Every state change, in order, once (one webhook-id per business fact).
            assert [c.data["event"]["to"] for c in changes] == driven.states
            assert len({c.webhook_id for c in changes}) == len(changes)


def marketo_lead(snap: dict[str, Any], email: str) -> dict[str, Any]:
    (lead,) = [lead for lead in snap["leads"] if lead.get("email") == email]
    return dict(lead)


def mautic_contact(snap: dict[str, Any], email: str) -> dict[str, Any]:
    (contact,) = [c for c in snap["contacts"] if c["fields"]["all"].get("email") == email]
    return dict(contact)


def members(groups: dict[str, list[int]], group_id: int) -> list[int]:
    return list(groups.get(str(group_id), []))


def journey_rows(stack: DestinationStack, lead: Lead) -> set[tuple[str, str, str]]:
    """(destination, rule, status) of every journey action of the lead's envelopes."""
    return {
        (d["destination"], d["fact"].rsplit(":", 1)[1], d["status"])
        for d in stack.deliveries(lead)
        if ":journey:" in d["fact"]
    }


def task_key(driven: Driven) -> str:
    return f"envelope:{driven.envelope_id}:journey:declined_task"


def crm_tasks(stack: DestinationStack, key: str) -> dict[str, list[dict[str, Any]]]:
    """The task each CRM holds under inkbridge's task key."""
    hub = stack.emulators["hubspot"].state()
    sf = stack.emulators["salesforce"].state()
    dyn = stack.emulators["dynamics"].state()
    pd = stack.emulators["pipedrive"].state()
    return {
        "hubspot": [t for t in hub["tasks"] if t.get("inkbridge_task_key") == key],
        "salesforce": [t for t in sf["tasks"] if t.get("Inkbridge_Task_Key__c") == key],
        "dynamics": [t for t in dyn["tasks"] if t.get("inkbridge_taskkey") == key],
        "pipedrive": [
            a for a in pd["activities"] if f"[inkbridge-task:{key}]" in str(a.get("note") or "")
        ],
    }


def assert_one_task_for_the_owner(stack: DestinationStack, driven: Driven) -> None:
    """Exactly one task per CRM for a declined envelope, owned by the lead's CRM owner and tied
    to the person (and, in Pipedrive, the deal)."""
    tasks = crm_tasks(stack, task_key(driven))
    assert {crm: len(found) for crm, found in tasks.items()} == dict.fromkeys(CRMS, 1), tasks
    owner, email = driven.owner, driven.lead.email
    hub = stack.emulators["hubspot"].state()
    (task,) = tasks["hubspot"]
    assert task["hubspot_owner_id"] == OWNERS["hubspot"][owner]
    assert task["hs_task_subject"] == "Envelope declined: follow up"
    (contact,) = [c for c in hub["objects"]["contacts"] if c["email"] == email]
    link = {"from": ["tasks", task["hs_object_id"]], "to": ["contacts", contact["hs_object_id"]]}
    assert link in hub["associations"]
    sf = stack.emulators["salesforce"].state()
    (task,) = tasks["salesforce"]
    (person,) = [p for p in sf["objects"]["Lead"] if p["Email"] == email]
    assert (task["OwnerId"], task["WhoId"]) == (OWNERS["salesforce"][owner], person["Id"])
    assert task["Subject"] == "Envelope declined: follow up"
    dyn = stack.emulators["dynamics"].state()
    (task,) = tasks["dynamics"]
    (person,) = [c for c in dyn["objects"]["contacts"] if c["emailaddress1"] == email]
    assert task["_ownerid_value"] == OWNERS["dynamics"][owner]
    assert task["_regardingobjectid_value"] == person["contactid"]
    pd = stack.emulators["pipedrive"].state()
    (task,) = tasks["pipedrive"]
    (person,) = [p for p in pd["persons"] if p["emails"][0]["value"] == email]
    (deal,) = [d for d in pd["deals"] if driven.envelope_id in d["custom_fields"].values()]
    assert task["owner_id"] == OWNERS["pipedrive"][owner]
    assert (task["person_id"], task["deal_id"]) == (person["id"], deal["id"])


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


# -- 3. an outage ---------------------------------------------------------------------------------


def hubspot_statuses(stack: DestinationStack, envelope_ids: list[str]) -> dict[str, str] | None:
    try:
        deals = stack.emulators["hubspot"].state()["objects"].get("deals", [])
    except httpx.TransportError:
        return None  # still down
    return {
        d["inkbridge_envelope_id"]: d["inkbridge_status"]
        for d in deals
        if d.get("inkbridge_envelope_id") in envelope_ids
    }


def test_an_outage_loses_nothing_duplicates_nothing_and_dead_letters_replay(
    stack: DestinationStack,
) -> None:
    hubspot, mautic = stack.emulators["hubspot"], stack.emulators["mautic"]
    kate = stack.lead("kate", "alice", marketing=True, campaign="outage")
    liam = stack.lead("liam", "bob", marketing=True, campaign="outage")
    mia = stack.lead("mia", "alice", marketing=True, campaign="outage")
    leads = [kate, liam, mia]
    stack.wait_settled(leads)
    paced = hubspot.state()  # the throttle has held so far (the counters die with the process)
    assert paced["requests"]["rejected_total"] == 0
    assert paced["max_requests_in_window"] <= HUBSPOT_LIMIT

    # HubSpot crashes; Mautic's gateway times out (504 after a second), which keeps its failing
    # passes few enough that each change gets its two attempts before the circuit opens.
    hubspot.kill9()
    mautic.fault("timeout", delay=1.0)
    with pytest.raises(httpx.TransportError):
        httpx.get(hubspot.url + "/_state", timeout=2)
    signed = stack.drive(kate, SIGNED)
    declined = stack.drive(liam, DECLINED)
    opened = stack.drive(mia, SIGNED[:-1])
    outage = [signed, declined, opened]

    def failing() -> bool:
        rows = [d for lead in leads for d in stack.deliveries(lead)]
        hub = [d for d in rows if d["destination"] == "hubspot" and d["status"] != "delivered"]
        mau = [d for d in rows if d["destination"] == "mautic" and d["status"] != "delivered"]
        return bool(
            hub
            and all(d["status"] in ("pending", "inflight") for d in hub)  # never given up
            and any(a["outcome"] == "retry" for d in hub for a in d["attempts"])
            and mau
            and all(d["status"] == "dead" for d in mau)  # two attempts, then dead letters
        )

    poll_until(failing, "HubSpot to retry and Mautic to dead-letter", timeout=60, every=0.3)
    assert stack.dead_letters("hubspot") == []
    mine = {lead.correlation_id for lead in leads}
    dead = [d for d in stack.dead_letters("mautic") if d["correlation_id"] in mine]
    facts = {d["fact"] for d in dead}
    assert f"envelope:{signed.envelope_id}:journey:completed_onboarding" in facts
    assert {d["record"] for d in dead} >= {f"envelope:{d.envelope_id}" for d in outage}

    # Back: HubSpot on the same port and database, Mautic answering, its dead letters replayed.
    hubspot.start()
    mautic.fault("ok")
    assert stack.replay("mautic") >= len(dead)
    finished = stack.carry_on(opened, SIGNED[-1:])  # progress goes on after the recovery
    outage = [signed, declined, finished]
    ids = [d.envelope_id for d in outage]
    seen: dict[str, list[str]] = {i: [] for i in ids}
    deadline = time.monotonic() + 90
    while True:  # watch HubSpot catch up: a record may skip states but never go back
        for envelope_id, status in (hubspot_statuses(stack, ids) or {}).items():
            if not seen[envelope_id] or seen[envelope_id][-1] != status:
                seen[envelope_id].append(status)
        if stack.settled(leads):
            break
        assert time.monotonic() < deadline, f"no recovery: {seen}\n{stack.log()}"
        time.sleep(0.2)
    for envelope_id, statuses in seen.items():
        ranks = [STATE_RANK[s] for s in statuses]
        assert ranks == sorted(ranks), f"{envelope_id} went back: {statuses}"

    assert [d for d in stack.dead_letters() if d["correlation_id"] in mine] == []
    assert {d["status"] for lead in leads for d in stack.deliveries(lead)} <= {
        "delivered",
        "superseded",
    }
    for destination in DESTINATIONS:  # every change arrived, once, in order (webhook)
        assert_lands(stack, destination, outage)
    assert_one_task_for_the_owner(stack, declined)
    marketo, mautic_state = snapshot(stack, "marketo"), snapshot(stack, "mautic")
    for driven in (signed, finished):
        contact = mautic_contact(mautic_state, driven.lead.email)
        assert contact["id"] in members(mautic_state["segments"], MAUTIC_SEGMENTS["onboarding"])
        lead = marketo_lead(marketo, driven.lead.email)
        runs = [r["campaign_id"] for r in marketo["campaign_runs"] if r["lead_id"] == lead["id"]]
        assert runs == [MARKETO_CAMPAIGNS["onboarding"]]


# -- 4. rate limits -------------------------------------------------------------------------------


def test_a_burst_never_pushes_hubspot_past_its_quota_and_everything_arrives(
    stack: DestinationStack,
) -> None:
    hubspot = stack.emulators["hubspot"]
    requests_before = hubspot.state()["requests"]["requests_total"]
    leads = [
        stack.lead(f"burst{n}", "bob" if n % 2 else "alice", marketing=n % 3 > 0, campaign="burst")
        for n in range(16)
    ]
    paths = [DECLINED if n % 2 else SIGNED for n in range(len(leads))]
    refs = [stack.new_ref() for _ in leads]
    # All at once: each envelope's events in order, the envelopes interleaved.
    for step in range(max(len(p) for p in paths)):
        for lead, ref, path in zip(leads, refs, paths, strict=True):
            if step < len(path):
                stack.send(ref, path[step], lead, minute=600 + step * 10)

    def all_terminal() -> bool:
        views = [stack.envelope_by_ref(ref) for ref in refs]
        return all(v is not None and v["state"] in ("completed", "declined") for v in views)

    poll_until(all_terminal, "the burst's envelopes to reach their end", timeout=30)
    stack.wait_settled(leads, timeout=90)

    state = hubspot.state()
    assert state["requests"]["rejected_total"] == 0  # not one 429
    assert state["max_requests_in_window"] <= HUBSPOT_LIMIT
    # More than one window's worth: the throttle, not a small burst, kept it under.
    assert state["requests"]["requests_total"] - requests_before > HUBSPOT_LIMIT
    for lead, ref, path in zip(leads, refs, paths, strict=True):
        view = stack.envelope_by_ref(ref)
        assert view is not None
        deal = record_view("hubspot", state, view["id"], lead.email)
        final = "declined" if path is DECLINED else "completed"
        assert (deal.status, deal.records, deal.people, deal.linked) == (final, 1, 1, True)
        assert set(deal.milestones) == {
            "sent_at",
            "first_viewed_at",
            *(("declined_at",) if path is DECLINED else ("first_signed_at", "completed_at")),
        }
        key = f"envelope:{view['id']}:journey:declined_task"
        tasks = [t for t in state["tasks"] if t.get("inkbridge_task_key") == key]
        assert len(tasks) == (1 if path is DECLINED else 0)
