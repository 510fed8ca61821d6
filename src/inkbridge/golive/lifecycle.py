"""The checks of an envelope's lifecycle: delays and order (the same lifecycle shuffled ends in
the state it ends in when delivered in order; a conflicting terminal event afterwards is flagged
for reconciliation, not applied) and attribution (the completed envelope is credited to the
lead's original campaign after an owner change)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from inkbridge.golive.outcome import CheckResult, failed, judged
from inkbridge.golive.target import Target

LIFECYCLE = ("document_sent", "document_viewed", "recipient_signed", "document_completed")


def _deliver_lifecycle(
    target: Target, connection: str, lead: dict[str, Any], pid: str, order: list[int]
) -> None:
    start = datetime.now(UTC) - timedelta(minutes=10)
    bodies = [
        target.event(kind, pid, lead, occurred_at=start + timedelta(minutes=i))
        for i, kind in enumerate(LIFECYCLE)
    ]
    for index in order:
        target.deliver(connection, bodies[index])


def _settled(target: Target, pid: str) -> dict[str, Any] | None:
    view = target.envelope(pid)
    events = len(view["timeline"]) if view else 0
    return view if view is not None and events >= len(LIFECYCLE) else None


def order(target: Target, connection: str, lead: dict[str, Any]) -> tuple[CheckResult, str]:
    """Returns the row and the provider id of the in-order envelope (completed, for the checks
    that read a completed envelope of ``lead``)."""
    name = f"order[{connection}]"
    in_order, shuffled = target.name("in-order"), target.name("shuffled")
    _deliver_lifecycle(target, connection, lead, in_order, [0, 1, 2, 3])
    _deliver_lifecycle(target, connection, lead, shuffled, [3, 1, 0, 2])
    first = target.wait_for(lambda: _settled(target, in_order))
    second = target.wait_for(lambda: _settled(target, shuffled))
    if first is None or second is None:
        return failed(
            name,
            "the lifecycle was not processed in time",
            in_order=first and first["state"],
            shuffled=second and second["state"],
        ), in_order
    problems = []
    if first["state"] != "completed" or second["state"] != first["state"]:
        problems.append(f"in order ended {first['state']!r}, shuffled {second['state']!r}")
    return judged(
        name,
        problems,
        "shuffled lifecycle ends as in order",
        in_order=first["id"],
        shuffled=second["id"],
        state=first["state"],
    ), in_order


def conflicting_terminal(
    target: Target, connection: str, lead: dict[str, Any], pid: str
) -> CheckResult:
    """A declined event after completion: the envelope stays completed and is flagged."""
    name = f"conflicting-terminal[{connection}]"
    target.deliver(connection, target.event("document_declined", pid, lead))

    def flagged() -> dict[str, Any] | None:
        view = target.envelope(pid)
        if view is None:
            return None
        return view if view["conflicts"] or view["needs_reconcile"] else None

    view = target.wait_for(flagged) or target.envelope(pid)
    if view is None:
        return failed(name, f"no envelope for {pid}")
    problems = []
    if view["state"] != "completed":
        problems.append(f"the conflicting decline was applied: state {view['state']!r}")
    if not (view["conflicts"] or view["needs_reconcile"]):
        problems.append("the conflict was not flagged for reconciliation")
    return judged(
        name,
        problems,
        "decline after completion flagged, not applied",
        envelope=view["id"],
        state=view["state"],
        conflicts=view["conflicts"],
        needs_reconcile=view["needs_reconcile"],
    )


def attribution(target: Target, lead: dict[str, Any], pid: str) -> CheckResult:
    """After an owner change, the completed envelope is credited to the original campaign."""
    name = "attribution"
    target.send("PATCH", f"/v1/leads/{lead['id']}", {"owner": f"golive-owner-{target.run_id}"})
    view = target.envelope(pid)
    # The cohort of this run's leads (created at or after this one), every campaign shown:
    # the credit must go to the campaign the lead first came from, and nowhere else.
    report = target.get(
        "/v1/reports/attribution",
        since=lead["created_at"],
        group_by="campaign",
        model="first_touch",
    )
    credited = {
        str(row["campaign"]): float(row["first_touch"])
        for row in report["rows"]
        if float(row["first_touch"]) > 0
    }
    problems = []
    if view is None or view["state"] != "completed":
        problems.append(f"no completed envelope for {pid}")
    if set(credited) != {target.campaign}:
        problems.append(f"the report credits {credited}, expected only {target.campaign}")
    return judged(
        name,
        problems,
        "credited to the original campaign after an owner change",
        campaign=target.campaign,
        credited=credited,
    )
