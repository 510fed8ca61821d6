"""The legal-state check: a two-signer envelope is delivered to the destinations as signed (its
``completed`` fact, what a CRM turns into signed/won) only once the provider reports legal
completion, never on "viewed" nor on one signer of two. What the deployment delivered is read
from the trace of the lead's correlation id (``GET /v1/trace/{id}``, golive scope)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from inkbridge.golive import downstream
from inkbridge.golive.outcome import CheckResult, failed, judged, not_applicable
from inkbridge.golive.target import Target

SIGNERS = ("golive-signer-1", "golive-signer-2")
# A destination has acted on a fact only once it acknowledged it (or a newer change of the
# same record that carries it).
SENT = {"delivered", "superseded", "inflight"}


def _completed_facts(trace: dict[str, Any], envelope_id: str) -> list[dict[str, Any]]:
    fact = f"envelope:{envelope_id}:state:completed"
    return [d for d in trace["deliveries"] if d["fact"] == fact]


def legal_state(target: Target, connection: str) -> CheckResult:
    name = f"legal-state[{connection}]"
    lead = target.capture_lead("legal", region=target.regions.get(connection))
    # Where golive seeds the vendor, each signer signs there before its event is delivered.
    pid, signers = target.vendor_envelope(connection, "legal", lead, SIGNERS)
    start = datetime.now(UTC) - timedelta(minutes=10)

    def deliver(kind: str, minute: int, recipient: str | None = None) -> None:
        occurred = start + timedelta(minutes=minute)
        body = target.event(
            kind, pid, lead, occurred_at=occurred, recipient=recipient or signers[0]
        )
        target.deliver(connection, body)

    deliver("document_sent", 0)
    deliver("document_viewed", 1)
    target.vendor_signed(connection, pid, signers[0])
    deliver("recipient_signed", 2, signers[0])

    def partly_signed() -> dict[str, Any] | None:
        view = target.envelope(pid)
        return view if view is not None and len(view["timeline"]) >= 3 else None

    halfway = target.wait_for(partly_signed)
    if halfway is None:
        return failed(name, f"the first three events of {pid} were not processed in time")
    envelope_id = str(halfway["id"])
    # Let the worker route and deliver whatever the partial signature produced.
    time.sleep(target.settle_seconds)
    early = _completed_facts(target.get(f"/v1/trace/{lead['correlation_id']}"), envelope_id)
    problems: list[str] = []
    if halfway["state"] == "completed":
        problems.append("the envelope completed on one signature of two")
    if early:
        problems.append(
            f"the completed fact was routed after one signature of two: {len(early)} deliveries"
        )
    held_early = _held_as_signed(target, lead, envelope_id)
    if held_early:
        problems.append(
            f"{', '.join(held_early)} held the envelope as completed after one signature of two"
        )
    target.vendor_signed(connection, pid, signers[1])
    deliver("recipient_signed", 3, signers[1])
    deliver("document_completed", 4, signers[1])

    def delivered() -> list[dict[str, Any]] | None:
        trace = target.get(f"/v1/trace/{lead['correlation_id']}")
        found = _completed_facts(trace, envelope_id)
        return found if found and all(d["status"] in SENT for d in found) else None

    final = target.wait_for(delivered)
    trace = target.get(f"/v1/trace/{lead['correlation_id']}")
    if not trace["deliveries"]:
        return not_applicable(name, "the deployment routes this envelope to no destination")
    completed = _completed_facts(trace, envelope_id)
    if not completed:
        problems.append("legal completion was delivered to no destination")
    elif final is None:
        statuses = sorted({str(d["status"]) for d in completed})
        problems.append(f"legal completion not delivered in time: {statuses}")
    return judged(
        name,
        problems,
        "signed/won delivered only after legal completion",
        envelope=envelope_id,
        state_after_one_signature=halfway["state"],
        destinations_signed_early=held_early,
        completed_deliveries={str(d["destination"]): str(d["status"]) for d in completed},
    )


def _held_as_signed(target: Target, lead: dict[str, Any], envelope_id: str) -> list[str]:
    """The readable destinations holding the envelope's record as completed, once what the
    lead's changes so far have been delivered."""
    if not downstream.deliveries(target, lead):
        return []
    downstream.wait_settled(target, lead, lambda d: True)
    record = f"envelope:{envelope_id}"
    held = []
    for name in downstream.readable(target):
        log = downstream.writes(target, name, str(lead["id"]))
        if any(r["id"] == record and r["status"] == "completed" for r in log["records"]):
            held.append(name)
    return held
