"""The checks of the webhook door: signatures (a correctly signed delivery is acknowledged
exactly as the vendor expects, in the connection's own vendor format; tampered, stale and
future ones are refused and store nothing) and duplicates (the same delivery many times at once
and again later makes one change on the timeline, one outbox change per destination, and one
write where the destination's write log is readable)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from inkbridge.golive import downstream
from inkbridge.golive.outcome import CheckResult, failed, judged, not_applicable
from inkbridge.golive.target import Delivery, Target, TargetError, new_msg_id
from inkbridge.golive.vendor_formats import VendorFormat, format_of

SKEW_SECONDS = 3600  # far outside any tolerance a deployment may configure
DUPLICATES = 12


def _redacted(text: bytes, secret: str) -> str:
    # An acknowledgement may echo a credential (Acrobat Sign's client id): never report it.
    return repr(text[:80]).replace(secret, "***") if secret else repr(text[:80])


def _refusal_cases(wire: VendorFormat, now: int) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The forged deliveries this vendor's signature can refuse, and the cases it cannot."""
    cases: dict[str, dict[str, Any]] = {"tampered signature": {"tamper": wire.tamper_signature}}
    unsigned = []
    if wire.tamper_body is not None:
        cases["tampered body"] = {"tamper": wire.tamper_body}
    else:
        unsigned.append("tampered body")
    if wire.signs_time:
        cases["stale timestamp"] = {"timestamp": now - SKEW_SECONDS}
        cases["future timestamp"] = {"timestamp": now + SKEW_SECONDS}
    else:
        unsigned += ["stale timestamp", "future timestamp"]
    return cases, unsigned


def signatures(target: Target, connection: str, provider: str) -> CheckResult:
    """A delivery signed in the connection's own vendor format is answered with the vendor's
    exact acknowledgement; each forgery the vendor's scheme can catch answers 401 and stores
    nothing (what the scheme does not sign is named in the evidence, not counted)."""
    name = f"signatures[{connection}]"
    wire = target.senders.get(connection) or format_of(provider)
    if wire is None:
        return not_applicable(name, f"golive does not speak the {provider!r} vendor format")
    secret = target.secrets[connection]
    problems: list[str] = []
    try:
        lead = target.capture_lead("sig", region=target.regions.get(connection))
    except (TargetError, KeyError, TypeError) as exc:
        # A target that keeps no lead is still judged at its webhook door.
        lead = {"id": target.name("no-lead"), "email": target.test_email("sig")}
        problems.append(f"no test lead was captured ({type(exc).__name__}: {exc})")
    cases, unsigned = _refusal_cases(wire, int(time.time()))
    evidence: dict[str, Any] = {"format": wire.provider}
    refused: dict[str, str] = {}
    for case, options in cases.items():
        pid = target.name("refused")
        answer = target.deliver(connection, target.event("document_viewed", pid, lead), **options)
        evidence[case] = answer.status
        refused[case] = pid
        if answer.status != 401:
            problems.append(f"{case}: answered {answer.status}, expected 401")
    if unsigned:
        evidence["not signed by the vendor"] = unsigned
    good = target.name("signed")
    answer = target.deliver(connection, target.event("document_viewed", good, lead))
    expected = wire.acknowledgement(secret)
    evidence["signed"] = answer.status
    evidence["acknowledgement"] = "exact" if (answer.status, answer.body) == expected else "other"
    if (answer.status, answer.body) != expected:
        problems.append(
            f"signed delivery: answered {answer.status} {_redacted(answer.body, secret)}, "
            f"expected {expected[0]} {_redacted(expected[1], secret)}"
        )
    try:
        if 200 <= answer.status < 300:
            tracked = target.wait_for(lambda: target.envelope(good))
            if tracked is None:
                problems.append(f"the signed delivery made no envelope for {good}")
            else:
                evidence["envelope"] = tracked["id"]
        else:  # refused too, so no envelope will come: the refused ones get the settle time
            time.sleep(target.settle_seconds)
        # Refused deliveries were posted first: by the time the signed one is processed,
        # anything they stored would have been processed too.
        stored = sorted(case for case, pid in refused.items() if target.envelopes_for(pid))
    except (TargetError, KeyError, TypeError) as exc:
        problems.append(f"what the deliveries made cannot be read ({type(exc).__name__}: {exc})")
        stored = []
    if stored:
        problems.append(f"refused deliveries stored something: {', '.join(stored)}")
    refusals = ", ".join(cases)
    return judged(name, problems, f"signed accepted; {refusals} refused", **evidence)


def duplicates(target: Target, connection: str) -> CheckResult:
    """The same delivery (same message id, body and signature) many times concurrently and
    once more after a pause: every copy acknowledged alike, one event on the timeline."""
    name = f"duplicates[{connection}]"
    if connection not in target.secrets:
        return failed(name, "no signing secret given for the connection")
    lead = target.capture_lead("dup", region=target.regions.get(connection))
    pid = target.name("dup")
    body = target.event("document_viewed", pid, lead)
    msg_id = new_msg_id()

    def once(_: int) -> Delivery:
        return target.deliver(connection, body, msg_id=msg_id)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(once, range(DUPLICATES)))
    time.sleep(target.settle_seconds / 2)
    answers.append(once(0))
    statuses = sorted({a.status for a in answers})
    bodies = {a.body for a in answers}
    problems: list[str] = []
    if statuses != [200] or len(bodies) != 1:
        problems.append(f"copies answered differently: statuses {statuses}, {len(bodies)} bodies")
    tracked = target.wait_for(lambda: target.envelope(pid))
    if tracked is None:
        return failed(name, f"no envelope was made for {pid}", statuses=statuses)
    time.sleep(target.settle_seconds)
    view = target.get(f"/v1/envelopes/{tracked['id']}")
    viewed = [e for e in view["timeline"] if e["event_type"] == "document_viewed"]
    envelopes = len(target.envelopes_for(pid))
    if len(viewed) != 1 or envelopes != 1:
        problems.append(
            f"{DUPLICATES + 1} copies made {len(viewed)} timeline events on {envelopes} envelopes"
        )
    writes = _downstream_writes(target, lead, str(tracked["id"]), problems)
    return judged(
        name,
        problems,
        f"{DUPLICATES + 1} copies, one change, one write downstream",
        envelope=tracked["id"],
        copies=DUPLICATES + 1,
        timeline_events=len(viewed),
        downstream_writes=writes,
    )


def _downstream_writes(
    target: Target, lead: dict[str, Any], envelope_id: str, problems: list[str]
) -> dict[str, int] | str:
    """Per destination the change was routed to: the writes carrying it, counted in the
    destination's own write log (outbox changes where the log is not readable)."""
    if downstream.destinations(target) == []:  # nothing to wait for
        return "routed to no destination"
    fact = downstream.state_fact(envelope_id, "viewed")
    routed = downstream.wait_settled(target, lead, lambda d: d["fact"] == fact)
    if routed is None:
        found = [d for d in downstream.deliveries(target, lead) if d["fact"] == fact]
        if found:
            problems.append(f"the change was not delivered in time: {found}")
        return "routed to no destination" if not found else "not delivered"
    readable = set(downstream.readable(target))
    counted: dict[str, int] = {}
    for name in sorted({str(d["destination"]) for d in routed}):
        if name in readable:
            log = downstream.writes(target, name, str(lead["id"]))
            counted[name] = len(downstream.writes_carrying(log, fact))
        else:
            counted[f"{name} (outbox)"] = sum(d["destination"] == name for d in routed)
    many = {name: n for name, n in counted.items() if n != 1}
    if many:
        problems.append(f"downstream writes of the one change: {many}")
    return counted
