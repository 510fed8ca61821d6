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
SIGNER = "golive-signer"


def _deliver_lifecycle(
    target: Target, connection: str, lead: dict[str, Any], purpose: str, order: list[int]
) -> str:
    """The lifecycle of one new envelope delivered in ``order``; its provider id. Where golive
    seeds the vendor, the request is signed there first, as the vendor holds it by the time
    its completion is delivered."""
    pid, (signer,) = target.vendor_envelope(connection, purpose, lead, (SIGNER,))
    target.vendor_signed(connection, pid, signer)
    start = datetime.now(UTC) - timedelta(minutes=10)
    bodies = [
        target.event(kind, pid, lead, occurred_at=start + timedelta(minutes=i), recipient=signer)
        for i, kind in enumerate(LIFECYCLE)
    ]
    for index in order:
        target.deliver(connection, bodies[index])
    return pid


def _settled(target: Target, pid: str, *, confirmed: bool) -> dict[str, Any] | None:
    """The envelope once its lifecycle is processed and, where the vendor confirms completion
    (``confirmed``), once the deployment has asked the vendor's API."""
    view = target.envelope(pid)
    events = len(view["timeline"]) if view else 0
    if view is None or events < len(LIFECYCLE) or (confirmed and view["needs_reconcile"]):
        return None
    return view


def order(target: Target, connection: str, lead: dict[str, Any]) -> tuple[CheckResult, str]:
    """Returns the row and the provider id of the in-order envelope (completed, for the checks
    that read a completed envelope of ``lead``)."""
    name = f"order[{connection}]"
    in_order = _deliver_lifecycle(target, connection, lead, "in-order", [0, 1, 2, 3])
    shuffled = _deliver_lifecycle(target, connection, lead, "shuffled", [3, 1, 0, 2])
    confirmed = connection in target.seeders
    first = target.wait_for(lambda: _settled(target, in_order, confirmed=confirmed))
    second = target.wait_for(lambda: _settled(target, shuffled, confirmed=confirmed))
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
