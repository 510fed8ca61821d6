"""The ``test-marks`` check: every write golive's test leads caused downstream carried the test
mark (``"test": true``, kept by the sandbox CRM as ``inkbridge_test``) or went to the
destination's sandbox twin (``golive_twin``) instead of the vendor.

It runs after the other checks, before the clean-up, over every test lead of the run: it waits
until their deliveries have settled, then reads each destination's write log where golive can
(``/v1/admin/golive/writes``: a mounted sandbox destination, or a twin). A destination golive
cannot read is named in the evidence with its delivered changes, unverified."""

from __future__ import annotations

from typing import Any

from inkbridge.golive import downstream
from inkbridge.golive.outcome import CheckResult, judged, not_applicable
from inkbridge.golive.target import Target

NAME = "test-marks"
UNSETTLED = {"pending", "inflight"}
SHOWN = 3  # facts named per failing destination


def _routed(target: Target, leads: list[dict[str, Any]], problems: list[str]) -> list[Any]:
    """Every delivery of the test leads, once none is pending or in flight (or the timeout)."""

    def current() -> list[dict[str, Any]]:
        return [d for lead in leads for d in downstream.deliveries(target, lead)]

    def settled() -> list[dict[str, Any]] | None:
        found = current()
        return found if all(d["status"] not in UNSETTLED for d in found) else None

    routed = target.wait_for(settled)
    if routed is None:
        routed = current()
        waiting = sum(d["status"] in UNSETTLED for d in routed)
        problems.append(f"{waiting} change(s) about the test leads still undelivered")
    return routed


def _read(
    target: Target, dest: dict[str, Any], leads: list[dict[str, Any]], delivered: int
) -> tuple[dict[str, Any], list[str]]:
    """One readable destination's evidence and problems: its writes, how many were marked."""
    name = str(dest["name"])
    writes = [
        w for lead in leads for w in downstream.writes(target, name, str(lead["id"]))["writes"]
    ]
    unmarked = [w for w in writes if w.get("test") is not True]
    entry: dict[str, Any] = {"writes": len(writes), "test_marked": len(writes) - len(unmarked)}
    if dest.get("golive_twin"):
        entry["replaced_by"] = f"{dest['golive_twin']} twin"
    problems = []
    if unmarked:
        facts = sorted({str(f) for w in unmarked for f in w["facts"]})[:SHOWN]
        problems.append(
            f"{name} received {len(unmarked)} of {len(writes)} writes without the test mark "
            f"(facts {facts})"
        )
    if delivered and not writes:
        where = "its twin's" if dest.get("golive_twin") else "its"
        problems.append(
            f"{name}: {delivered} change(s) delivered, none in {where} write log "
            "(a twin's log is read by the API process: it must share the worker's data_dir)"
        )
    return entry, problems


def marked_writes(target: Target) -> CheckResult:
    """Each destination that received a change about a test lead: test-marked writes only, or
    replaced by its sandbox twin; a destination golive cannot read is named, unverified."""
    listed = downstream.destinations(target)
    if listed is None:
        return not_applicable(NAME, "the deployment lists no destinations to golive")
    leads = [target.captured[lead_id] for lead_id in target.leads if lead_id in target.captured]
    if not leads:
        return not_applicable(NAME, "no test lead was captured")
    problems: list[str] = []
    routed = _routed(target, leads, problems)
    evidence: dict[str, Any] = {}
    unverified = []
    for dest in listed:
        name = str(dest["name"])
        delivered = sum(d["destination"] == name and d["status"] == "delivered" for d in routed)
        if dest["write_log"]:
            entry, found = _read(target, dest, leads, delivered)
            problems += found
        else:
            entry = {"delivered": delivered, "write_log": "not readable"}
            if delivered:
                unverified.append(name)
        if delivered or entry.get("writes"):
            evidence[name] = entry
    if not evidence and not problems:
        return not_applicable(NAME, "no destination received a change about the test leads")
    detail = "every write about a test lead carried the test mark or went to a sandbox twin"
    if unverified:
        detail += f"; not readable to golive, unverified: {', '.join(unverified)}"
    return judged(NAME, problems, detail, leads=len(leads), destinations=evidence)
