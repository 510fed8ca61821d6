"""The checks of what the deployment keeps about a lead: consent (each kind queryable with its
text hash, locale, jurisdiction, time and chain hash, and the receipt exports), residency (the
lead and its envelopes in one region, whose database and backups the data map declares for that
region only, at locations no other region's store shares, and the destinations its data went to
declared for that region only) and the clean-up (the run's leads erased, nothing of the
namespace left readable)."""

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


def residency(target: Target, lead: dict[str, Any], provider_ids: list[str]) -> CheckResult:
    name = "residency"
    region = str(target.get(f"/v1/leads/{lead['id']}")["region"])
    regions = {str(e["region"]) for pid in provider_ids for e in _views(target, pid)}
    datamap = target.get("/v1/datamap")
    problems: list[str] = []
    if regions - {region}:
        problems.append(f"the lead is in {region} but its envelopes in {sorted(regions)}")
    stores = [s for s in datamap["stores"] if region in s.get("regions", [])]
    spread = sorted(
        s["name"]
        for s in stores
        if s["name"].startswith(("database", "backups")) and s["regions"] != [region]
    )
    if spread:
        problems.append(f"stores holding {region}'s data span other regions: {spread}")
    shared = _shared_locations(datamap["stores"], region)
    if shared:
        problems.append(f"{region}'s stores share a location with another region's: {shared}")
    received = _destinations_of(target, lead, datamap)
    elsewhere = {dest: where for dest, where in received.items() if where != [region]}
    if elsewhere:
        problems.append(f"{region}'s lead went to destinations declared for {elsewhere}")
    backups = sorted(s["location"] for s in stores if s["name"] == f"backups:{region}")
    if region not in datamap["regions"]:
        problems.append(f"the data map does not list region {region}")
    return judged(
        name,
        problems,
        "the lead, its envelopes, its stores and its destinations in one region",
        region=region,
        envelope_regions=sorted(regions),
        destinations=received,
        backups=backups or "none declared",
    )


def _shared_locations(stores: list[dict[str, Any]], region: str) -> list[str]:
    """The region's database and backup stores whose location another region's store names
    too: the region's data lands in a store the data map declares as another region's."""
    own = [s for s in stores if s["name"].startswith(("database:", "backups:"))]
    theirs = {str(s["location"]) for s in own if region not in s["regions"]}
    return sorted(s["name"] for s in own if region in s["regions"] and s["location"] in theirs)


def _destinations_of(
    target: Target, lead: dict[str, Any], datamap: dict[str, Any]
) -> dict[str, list[str]]:
    """The destinations the lead's changes were routed to, with the regions each is declared
    for in the data map."""
    routed = {
        str(d["destination"])
        for d in target.get(f"/v1/trace/{lead['correlation_id']}")["deliveries"]
    }
    declared = {
        str(p["name"]).removeprefix("destination:"): sorted(p["regions"])
        for p in datamap["processors"]
        if p["kind"] == "destination"
    }
    return {name: declared.get(name, []) for name in sorted(routed)}


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
