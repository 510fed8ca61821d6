"""Erasure reaches every destination: a lead whose records landed in HubSpot, Salesforce,
Dynamics 365, Pipedrive, Marketo, Mautic, the outbound webhook receiver and the sandbox CRM and
marketing tool is erased through ``POST /v1/leads/{id}/erasure``; each destination received its
vendor's erasure call once and holds nothing of the person any more. Under a retry storm (each
destination failing the first calls with 5xx, 429, gateway timeouts or answers lost to a client
timeout) there is still exactly one effective erasure per destination and nothing is
dead-lettered.

Shown on the destinations' own state (each emulator's ``/_state`` with its log of erasure calls,
the sandbox CRM's ``/erasures``, the receiver's verified deliveries) and the outbox as inkbridge's
trace reports it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.acceptance.destination_stack import (
    SIGNED,
    DestinationStack,
    Lead,
    snapshot,
    start_destination_stack,
)
from tests.acceptance.destination_vendors import DESTINATIONS, VENDORS
from tests.acceptance.stack import SANDBOX_CRM

pytestmark = pytest.mark.slow

# The sandbox destinations, mounted by inkbridge serve itself.
SANDBOXES = {"crm": "/sandbox/crm", "marketing": "/sandbox/marketing"}
EVERYWHERE = (*DESTINATIONS, *SANDBOXES)
# Where each emulator logs the erasure calls it received (kept out of the person scan).
CALL_LOGS = {"hubspot": "gdpr_deletes"}
# Each destination fails the first erasure calls its own way. "slow" past the connector's
# 3 s timeout is an answer lost on the way back: the delete landed, the retry finds nothing.
STORM: dict[str, dict[str, Any]] = {
    "hubspot": {"mode": "slow", "delay": 4.0, "count": 1},
    "salesforce": {"mode": "error500", "count": 3},
    "dynamics": {"mode": "slow", "delay": 4.0, "count": 1},
    "pipedrive": {"mode": "rate_limit", "count": 2, "retry_after": 0.5},
    # Not Marketo's own 604 (request timed out): the connector waits 30 s after one, as asked.
    "marketo": {"mode": "error500", "count": 2},
    "mautic": {"mode": "down", "count": 2, "retry_after": 0.2},
}
SANDBOX_STORM = {"mode": "error500", "count": 2}
WEBHOOK_STORM = 2  # deliveries the receiver answers 503


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DestinationStack]:
    running = start_destination_stack(
        Path(tmp_path_factory.mktemp("erasure")),
        {
            "crm": SANDBOX_CRM,
            "marketing": SANDBOX_CRM | {"kind": "sandbox_marketing", "role": "marketing"},
            # The shared harness gives Mautic two attempts (its dead-letter story); an erasure
            # riding out a storm needs the patience every other destination has.
            "mautic": {"max_attempts": 30},
        },
    )
    try:
        yield running
    finally:
        running.stop()


def _sandbox(stack: DestinationStack, name: str, path: str) -> list[dict[str, Any]]:
    answer = stack.api.get(f"{stack.base}{SANDBOXES[name]}{path}")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["results"])


def _traces(stack: DestinationStack, name: str, lead: Lead) -> list[str]:
    """Where the destination still names the person (its log of erasure calls aside): the
    parts of its state holding the lead's email or id; empty when it holds nothing of them."""
    if name == "webhook":
        received = stack.receiver.received()
        return ["deliveries"] if any(_names(e.data, lead) for e in received) else []
    if name in SANDBOXES:
        return ["records"] if _names(_sandbox(stack, name, "/records"), lead) else []
    state = snapshot(stack, name)
    logs = ("deletes", CALL_LOGS.get(name))
    return sorted(key for key, part in state.items() if key not in logs and _names(part, lead))


def _names(part: Any, lead: Lead) -> bool:
    """Whether ``part`` holds the lead's email, or its id as a whole value (the sandbox keys
    the person's record by it); an envelope record keeping the pseudonymous id is no trace."""
    held = json.dumps(part).lower()
    return lead.email.lower() in held or f'"lead:{lead.id}"' in held


def _person_ids(name: str, state: dict[str, Any], email: str) -> set[int]:
    """The vendor's own ids of the person (the tools that find people by email)."""
    if name == "pipedrive":
        return {
            int(p["id"])
            for p in state["persons"]
            if email in {str(e.get("value")).lower() for e in p["emails"]}
        }
    if name == "marketo":
        return {int(x["id"]) for x in state["leads"] if str(x.get("email")).lower() == email}
    assert name == "mautic"
    return {
        int(c["id"])
        for c in state["contacts"]
        if str(c["fields"]["all"].get("email")).lower() == email
    }


def _erasure_calls(
    stack: DestinationStack, name: str, lead: Lead, ids: dict[str, set[int]]
) -> list[bool]:
    """The erasure calls about the person the destination received: did each delete them."""
    email = lead.email.lower()
    if name == "webhook":
        return [
            True
            for e in stack.receiver.received()
            if e.type == "lead.erased" and e.data["lead"]["id"] == lead.id
        ]
    if name in SANDBOXES:
        return [
            e["deleted"] > 0 for e in _sandbox(stack, name, "/erasures") if e["lead_id"] == lead.id
        ]
    state = snapshot(stack, name)
    if name == "hubspot":
        return [c["deleted"] for c in state["gdpr_deletes"] if c["objectId"].lower() == email]
    if name == "salesforce":
        return [
            c["deleted"]
            for c in state["deletes"]
            if c["value"] == lead.id and c["sobject"] in ("Lead", "Contact")
        ]
    if name == "dynamics":
        return [c["deleted"] for c in state["deletes"] if c["value"] == lead.id]
    return [c["deleted"] for c in state["deletes"] if c["id"] in ids[name]]


def _reached_everywhere(stack: DestinationStack, name: str) -> tuple[Lead, dict[str, set[int]]]:
    """A signed lead with marketing consent whose records reached every destination; the
    vendor ids of the person where the vendor finds them by email."""
    lead = stack.lead(name, "alice", marketing=True, campaign="privacy")
    stack.drive(lead, SIGNED)
    stack.wait_settled([lead], EVERYWHERE)
    missing = [d for d in EVERYWHERE if not _traces(stack, d, lead)]
    assert missing == [], f"the lead never reached {missing}"
    ids = {
        vendor: _person_ids(vendor, snapshot(stack, vendor), lead.email.lower())
        for vendor in ("pipedrive", "marketo", "mautic")
    }
    return lead, ids


def _erase(stack: DestinationStack, lead: Lead) -> None:
    answer = stack.api.post(f"/v1/leads/{lead.id}/erasure")
    assert answer.status_code == 202, answer.text
    assert sorted(answer.json()["destinations"]) == sorted(EVERYWHERE)
    stack.wait_settled([lead], EVERYWHERE, timeout=45.0)


def _erasure_rows(stack: DestinationStack, lead: Lead) -> dict[str, str]:
    return {
        d["destination"]: d["status"]
        for d in stack.deliveries(lead)
        if d["fact"] == f"lead:{lead.id}:erased"
    }


def test_each_destination_receives_its_erasure_call_once_and_forgets_the_person(
    stack: DestinationStack,
) -> None:
    lead, ids = _reached_everywhere(stack, "ada")

    _erase(stack, lead)

    assert _erasure_rows(stack, lead) == dict.fromkeys(EVERYWHERE, "delivered")
    calls = {name: _erasure_calls(stack, name, lead, ids) for name in EVERYWHERE}
    assert calls == {name: [True] for name in EVERYWHERE}
    left = {d: _traces(stack, d, lead) for d in (*VENDORS, *SANDBOXES)}
    assert left == {d: [] for d in left}


def test_a_retry_storm_still_erases_once_everywhere_and_dead_letters_nothing(
    stack: DestinationStack,
) -> None:
    lead, ids = _reached_everywhere(stack, "grace")
    for vendor, fault in STORM.items():
        stack.emulators[vendor].fault(**fault)
    for path in SANDBOXES.values():
        answer = stack.api.post(f"{stack.base}{path}/_faults", json=SANDBOX_STORM)
        assert answer.status_code == 200, answer.text
    stack.receiver.failures = WEBHOOK_STORM

    _erase(stack, lead)

    assert _erasure_rows(stack, lead) == dict.fromkeys(EVERYWHERE, "delivered")
    assert [d for d in stack.dead_letters() if d["record"] == f"lead:{lead.id}"] == []
    calls = {name: _erasure_calls(stack, name, lead, ids) for name in EVERYWHERE}
    assert {name: sum(made) for name, made in calls.items()} == dict.fromkeys(EVERYWHERE, 1)
    left = {d: _traces(stack, d, lead) for d in (*VENDORS, *SANDBOXES)}
    assert left == {d: [] for d in left}
    for vendor in STORM:
        faulted = snapshot(stack, vendor)["requests"]["faulted_total"]
        assert faulted >= 1, f"{vendor} never failed a call"
    assert stack.receiver.failures == 0
