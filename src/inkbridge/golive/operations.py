"""The checks of how a deployment is operated: evidence (its chains verify, read over
``GET /v1/admin/verify``), a rotated-out key (a delivery signed with a secret no longer configured
is refused and stores nothing) and log hygiene (no test email or name of the run in the log file
the deployment writes, when golive is given it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inkbridge.golive.outcome import CheckResult, failed, judged, not_applicable
from inkbridge.golive.target import Target

# How much of a log golive reads: a bound, so a huge log cannot stall the run.
LOG_READ_LIMIT = 64 * 1024 * 1024


def evidence(target: Target) -> CheckResult:
    """The audit, event log and consent chains of every region verify."""
    name = "evidence"
    answer = target.client.get("/v1/admin/verify")
    if answer.status_code == 404:
        return not_applicable(
            name,
            "the deployment exposes no chain verification over HTTP (GET /v1/admin/verify); "
            "run `inkbridge verify` on it",
        )
    if answer.status_code != 200:
        return failed(name, f"GET /v1/admin/verify answered {answer.status_code}")
    found: dict[str, Any] = answer.json()
    breaks = found["breaks"]
    broken = [f"{b['chain']} at {b['position']}: {b['reason']}" for b in breaks["logs"]]
    broken += [f"{b['chain']} at {b['position']}: {b['reason']}" for b in breaks["consent"]]
    problems = [f"chains break: {'; '.join(broken)}"] if broken or not found["ok"] else []
    return judged(
        name,
        problems,
        "audit, event log and consent chains verify",
        regions=found["regions"],
        breaks=len(broken),
    )


def rotated_key(target: Target, connection: str) -> CheckResult:
    """A delivery signed with the connection's retired secret answers 401 and makes nothing."""
    name = f"rotated-key[{connection}]"
    retired = target.retired_secrets.get(connection)
    if retired is None:
        return not_applicable(name, "no retired secret given (--retired-secret-file NAME=FILE)")
    lead = target.capture_lead("rotated", region=target.regions.get(connection))
    pid = target.name("rotated")
    answer = target.deliver(connection, target.event("document_viewed", pid, lead), secret=retired)
    problems = []
    if answer.status != 401:
        problems.append(f"a delivery signed with the retired secret answered {answer.status}")
    # A later delivery signed with the current secret, of another envelope: once it is
    # processed, anything the refused one stored would have been processed too.
    marker = target.name("rotated-current")
    target.deliver(connection, target.event("document_viewed", marker, lead))
    target.wait_for(lambda: target.envelope(marker))
    stored = target.envelopes_for(pid)
    if stored:
        problems.append(f"the retired-secret delivery made envelope {stored[0]['id']}")
    return judged(
        name,
        problems,
        "a delivery signed with the retired secret is refused and stores nothing",
        status=answer.status,
        envelopes=len(stored),
    )


def hygiene(target: Target, log_file: Path | None) -> CheckResult:
    """No test email or name of this run in the deployment's log file."""
    name = "hygiene"
    if log_file is None:
        return not_applicable(name, "no log file given (--log-file F)")
    try:
        with log_file.open("rb") as handle:
            text = handle.read(LOG_READ_LIMIT).decode("utf-8", errors="replace")
    except OSError as exc:
        return failed(name, f"cannot read {log_file}: {exc.strerror}")
    seen = sorted({value for value in target.personal_values() if value in text})
    # Name which kinds of value leaked, never the values: this report may end up in CI logs.
    problems = [f"{len(seen)} test value(s) of this run appear in the log"] if seen else []
    return judged(
        name,
        problems,
        "no test email or name of this run in the log",
        log_file=str(log_file),
        bytes_read=len(text),
        values_sought=len(target.personal_values()),
    )
