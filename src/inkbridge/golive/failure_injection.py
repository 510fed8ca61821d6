"""The failure-injection check: with a destination failing (its sandbox twin answering 5xx, 429
and timeouts for a few requests), nothing is lost and per-record order holds; a write the
destination refuses outright becomes a dead letter, and replayed it is delivered exactly once.

Destructive, so it runs only against destinations the deployment marks ``golive_may_fault`` (a
sandbox twin); with none it is not applicable and faults nothing. Every fault is cleared
afterwards, whatever happened."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from inkbridge.golive import downstream
from inkbridge.golive.downstream import state_fact
from inkbridge.golive.outcome import CheckResult, failed, judged, not_applicable
from inkbridge.golive.target import Target

NAME = "failure-injection"
# Each event of the lifecycle goes out while the destination suffers one kind of failure.
PHASES: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("document_sent", "sent", {"mode": "error500", "count": 2}),
    ("document_viewed", "viewed", {"mode": "rate_limit", "count": 2, "retry_after": 1}),
    ("recipient_signed", "partially_signed", {"mode": "timeout", "count": 1, "delay": 2}),
)
# The last one is refused as invalid (a permanent error): a dead letter, then replayed.
FINAL = ("document_completed", "completed")
EXPECTED_FAULTS = sum(int(options["count"]) for _, _, options in PHASES) + 1


def _fault(target: Target, destination: str, mode: str, **options: Any) -> dict[str, Any]:
    found: dict[str, Any] = target.send(
        "POST", "/v1/admin/golive/faults", {"destination": destination, "mode": mode, **options}
    )
    return found


def _chosen(target: Target, connections: Sequence[tuple[str, str]]) -> tuple[str, str, str] | str:
    """(destination, connection, region) to run against, or why nothing can be faulted."""
    listed = downstream.destinations(target)
    if listed is None:
        return "the deployment has no golive destination control (/v1/admin/golive)"
    marked = [d for d in listed if d["faultable"]]
    if not marked:
        return (
            "no destination is marked golive_may_fault (a sandbox twin mounted in the "
            "deployment, [destinations.NAME] golive_may_fault = true); golive faults nothing else"
        )
    for dest in marked:
        for connection, region in connections:
            if region in dest["regions"]:
                return str(dest["name"]), connection, region
    return "no checked connection's region is served by a destination golive may fault"


def failure_injection(target: Target, connections: Sequence[tuple[str, str]]) -> CheckResult:
    """``connections``: (name, region) of the connections checked."""
    chosen = _chosen(target, connections)
    if isinstance(chosen, str):
        return not_applicable(NAME, chosen)
    destination, connection, region = chosen
    before = _fault(target, destination, "ok")["faulted_total"]
    try:
        return _drive(target, destination, connection, region, before)
    finally:
        _fault(target, destination, "ok")


def _drive(
    target: Target, destination: str, connection: str, region: str, before: int
) -> CheckResult:
    lead = target.capture_lead("fault", region=region)
    pid = target.name("fault")
    start = datetime.now(UTC) - timedelta(minutes=10)
    evidence: dict[str, Any] = {"destination": destination, "connection": connection}

    def deliver(kind: str, minute: int) -> None:
        occurred = start + timedelta(minutes=minute)
        target.deliver(connection, target.event(kind, pid, lead, occurred_at=occurred))

    envelope_id = ""
    for minute, (kind, state, options) in enumerate(PHASES):
        _fault(target, destination, **options)
        deliver(kind, minute)
        if not envelope_id:
            view = target.wait_for(lambda: target.envelope(pid))
            if view is None:
                return failed(NAME, f"no envelope was made for {pid}", **evidence)
            envelope_id = evidence["envelope"] = str(view["id"])
        fact = state_fact(envelope_id, state)
        at_dest = _at(destination, fact)
        if downstream.wait_settled(target, lead, at_dest) is None:
            seen = [d["status"] for d in downstream.deliveries(target, lead) if at_dest(d)]
            return failed(
                NAME, f"{state} was not delivered while {options['mode']}: {seen}", **evidence
            )
    # A refused write: the completed change must become a dead letter, not be dropped.
    _fault(target, destination, "reject", count=1)
    deliver(FINAL[0], len(PHASES))
    completed = state_fact(envelope_id, FINAL[1])
    dead = target.wait_for(lambda: _dead(target, lead, destination, completed))
    if dead is None:
        return failed(NAME, "the refused write did not become a dead letter", **evidence)
    evidence["dead_letter"] = dead["outbox_id"]
    early = downstream.writes_carrying(
        downstream.writes(target, destination, lead["id"]), completed
    )
    replayed = target.send("POST", "/v1/admin/golive/dead-letters/replay", {"lead_id": lead["id"]})
    evidence["replayed"] = replayed["replayed"]
    delivered = downstream.wait_settled(target, lead, _at(destination, completed))
    log = downstream.writes(target, destination, lead["id"])
    after = _fault(target, destination, "ok")["faulted_total"]
    evidence["faulted_requests"] = after - before
    problems = _problems(target, lead, log, destination, envelope_id)
    if early:
        problems.append("the refused write reached the destination before its replay")
    if dead["outbox_id"] not in replayed["replayed"]:
        problems.append(f"the replay did not take dead letter {dead['outbox_id']}")
    if delivered is None:
        problems.append("the replayed dead letter was not delivered in time")
    if after - before < EXPECTED_FAULTS:
        problems.append(f"only {after - before} of {EXPECTED_FAULTS} faults were suffered")
    evidence["writes"] = len(log["writes"])
    evidence["attempts"] = {
        d["fact"].rsplit(":", 1)[-1]: len(d["attempts"])
        for d in downstream.deliveries(target, lead)
        if d["destination"] == destination and d["fact"] in set(_expected(envelope_id))
    }
    return judged(
        NAME,
        problems,
        "5xx, 429 and timeouts lost nothing, per-record order held, a dead letter replayed once",
        **evidence,
    )


def _at(destination: str, fact: str) -> Any:
    return lambda d: d["destination"] == destination and d["fact"] == fact


def _dead(
    target: Target, lead: dict[str, Any], destination: str, fact: str
) -> dict[str, Any] | None:
    found = [d for d in downstream.deliveries(target, lead) if _at(destination, fact)(d)]
    return found[0] if found and found[0]["status"] == "dead" else None


def _expected(envelope_id: str) -> list[str]:
    return [state_fact(envelope_id, s) for _, s, _ in PHASES] + [state_fact(envelope_id, FINAL[1])]


def _problems(
    target: Target, lead: dict[str, Any], log: dict[str, Any], destination: str, envelope_id: str
) -> list[str]:
    """Every change of the lead at the destination arrived, once each, the envelope's in
    lifecycle order, and the destination holds the envelope as completed."""
    problems: list[str] = []
    expected = _expected(envelope_id)
    carried = [f for w in log["writes"] for f in w["facts"]]
    routed = {
        d["fact"] for d in downstream.deliveries(target, lead) if d["destination"] == destination
    }
    lost = sorted((routed | set(expected)) - set(carried))
    if lost:
        problems.append(f"lost at {destination}: {', '.join(lost)}")
    twice = sorted(f for f, n in Counter(carried).items() if n > 1)
    if twice:
        problems.append(f"written more than once: {', '.join(twice)}")
    order = [f.rsplit(":", 1)[-1] for f in carried if f in expected]
    if order != [f.rsplit(":", 1)[-1] for f in expected]:
        problems.append(f"the envelope's changes arrived as {order}")
    held = {r["id"]: r["status"] for r in log["records"]}
    if held.get(f"envelope:{envelope_id}") != FINAL[1]:
        problems.append(f"the destination holds {held.get(f'envelope:{envelope_id}')!r}")
    return problems
