"""What the destination acceptance tests read from the destinations' own state: where an
envelope lands, first touch as expected, Marketo leads, Mautic contacts, list members, journey
rows and CRM tasks."""

from __future__ import annotations

from typing import Any

from tests.acceptance.destination_stack import DestinationStack, Driven, Lead, snapshot
from tests.acceptance.destination_vendors import CRMS, OWNERS
from tests.acceptance.destination_views import record_view, state_changes, vendor_owner

SEEDED_SOURCE = "legacy-import"  # what another tool wrote into first touch before inkbridge


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
