"""An outage and a burst, on the destinations' own state through one ``inkbridge serve``: HubSpot
killed and started again on the same port and database and Mautic's gateway timing out with two
attempts allowed lose nothing, write nothing twice or out of order, and Mautic's dead letters
are delivered once replayed; a burst never pushes HubSpot past its 20-requests-per-10-seconds
quota, and it lands."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.acceptance.destination_stack import DECLINED, SIGNED, DestinationStack, snapshot
from tests.acceptance.destination_vendors import (
    DESTINATIONS,
    HUBSPOT_LIMIT,
    MARKETO_CAMPAIGNS,
    MAUTIC_SEGMENTS,
    STATE_RANK,
)
from tests.acceptance.destination_views import record_view
from tests.acceptance.stack import poll_until

from .support import (
    assert_lands,
    assert_one_task_for_the_owner,
    marketo_lead,
    mautic_contact,
    members,
)

pytestmark = pytest.mark.slow


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
