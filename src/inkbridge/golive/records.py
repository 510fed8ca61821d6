"""The checks of what the deployment keeps about a lead: consent (each kind queryable with its
text hash, locale, jurisdiction, time and chain hash, and the receipt exports) and the clean-up
(the run's leads erased, nothing of the namespace left readable); residency is its own module."""

from __future__ import annotations

import json
from typing import Any

from inkbridge.golive.outcome import CheckResult, judged
from inkbridge.golive.target import CONSENT_SOURCE, Target, TargetError, consent_text_sha256

CONSENT_KINDS = ("contract_execution", "marketing_email")
PERSONAL_FIELDS = ("email", "first_name", "last_name", "phone", "company")


def consent(target: Target, lead: dict[str, Any]) -> CheckResult:
    name = "consent"
    found = target.get("/v1/consents", lead_id=lead["id"])
    problems: list[str] = []
    kinds: dict[str, str] = {}
    for kind in CONSENT_KINDS:
        # The record golive captured (the deployment may append its own, e.g. on signing).
        entries = [
            e for e in found["ledger"] if e["kind"] == kind and e.get("source") == CONSENT_SOURCE
        ]
        if not entries:
            problems.append(f"no {kind} record")
            continue
        entry = entries[-1]
        missing = [
            field
            for field in ("status", "text_sha256", "locale", "jurisdiction", "occurred_at", "hash")
            if not entry.get(field)
        ]
        if missing:
            problems.append(f"{kind} lacks {', '.join(missing)}")
        if entry.get("text_sha256") != consent_text_sha256():
            problems.append(f"{kind} keeps a text hash other than the one given")
        if (entry.get("locale"), entry.get("jurisdiction")) != ("en-GB", "GB"):
            problems.append(f"{kind} keeps locale/jurisdiction other than given")
        kinds[kind] = str(found["status"].get(kind))
        if kinds[kind] != "granted":
            problems.append(f"{kind} projects as {kinds[kind]!r}, not granted")
    receipt = target.client.get(f"/v1/consents/{lead['id']}/receipt")
    if receipt.status_code != 200:
        problems.append(f"the consent receipt answered {receipt.status_code}")
    return judged(
        name,
        problems,
        "each kind queryable with text hash, locale, jurisdiction, time and chain hash",
        lead=lead["id"],
        records=len(found["ledger"]),
        status=kinds,
        receipt=receipt.status_code,
    )


def _views(target: Target, pid: str) -> list[dict[str, Any]]:
    return [target.get(f"/v1/envelopes/{e['id']}") for e in target.envelopes_for(pid)]


def cleanup(target: Target) -> CheckResult:
    """Erase every lead of the run, then read back every lead and envelope it made: no
    personal field, and no test address anywhere in what the API answers."""
    name = "clean-up"
    problems: list[str] = []
    erased = 0
    emails: list[str] = []
    for lead_id in target.leads:
        try:
            emails.append(str(target.get(f"/v1/leads/{lead_id}").get("email") or ""))
            target.send("POST", f"/v1/leads/{lead_id}/erasure")
            erased += 1
        except TargetError as exc:
            problems.append(f"erasing {lead_id}: {exc}")
    readable = [target.get(f"/v1/leads/{lead_id}") for lead_id in target.leads]
    for view in readable:
        left = [f for f in PERSONAL_FIELDS if view.get(f)]
        if left:
            problems.append(f"lead {view['id']} still shows {', '.join(left)}")
    answers = [json.dumps(v) for v in readable]
    answers += [json.dumps(v) for pid in target.provider_envelopes for v in _views(target, pid)]
    leaked = sorted({e for e in emails if e and any(e in text for text in answers)})
    if leaked:
        problems.append(f"{len(leaked)} test address(es) still readable")
    return judged(
        name,
        problems,
        "every test lead erased; no personal field or test address readable",
        leads=len(target.leads),
        erased=erased,
        envelopes=len(target.provider_envelopes),
    )
