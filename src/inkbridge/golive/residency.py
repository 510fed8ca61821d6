"""The residency check, over every region the deployment declares: a test lead per region (the
lifecycle lead of a connection in that region, else one captured there) must be held in that
region only (the lead, its envelopes and its trace all read back from it), the destinations
its data was written to must be exactly those the data map declares for the region and each
declared for that region alone, and the region's database and backups must be declared for it
alone, at locations no other region's store names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inkbridge.golive.outcome import CheckResult, judged
from inkbridge.golive.target import Target, TargetError

DESTINATION = "destination:"


def _declared_destinations(datamap: Mapping[str, Any], region: str) -> set[str]:
    return {
        str(p["name"]).removeprefix(DESTINATION)
        for p in datamap["processors"]
        if p["kind"] == "destination" and region in p["regions"]
    }


def _regions_of_destinations(datamap: Mapping[str, Any]) -> dict[str, list[str]]:
    return {
        str(p["name"]).removeprefix(DESTINATION): sorted(p["regions"])
        for p in datamap["processors"]
        if p["kind"] == "destination"
    }


def _shared_locations(stores: list[dict[str, Any]], region: str) -> list[str]:
    """The region's database and backup stores whose location another region's store names
    too: the region's data lands in a store the data map declares as another region's."""
    own = [s for s in stores if str(s["name"]).startswith(("database:", "backups:"))]
    theirs = {str(s["location"]) for s in own if region not in s["regions"]}
    return sorted(str(s["name"]) for s in own if region in s["regions"] and s["location"] in theirs)


def _region_problems(
    target: Target, datamap: Mapping[str, Any], region: str, lead: Mapping[str, Any]
) -> tuple[list[str], dict[str, Any]]:
    problems: list[str] = []
    held = str(target.get(f"/v1/leads/{lead['id']}")["region"])
    if held != region:
        problems.append(f"the {region} lead is held in {held}")
    envelope_regions = sorted(
        {
            str(target.get(f"/v1/envelopes/{e['id']}")["region"])
            for pid in target.lead_envelopes.get(str(lead["id"]), [])
            for e in target.envelopes_for(pid)
        }
    )
    if set(envelope_regions) - {region}:
        problems.append(f"the {region} lead's envelopes are in {envelope_regions}")
    trace = target.get(f"/v1/trace/{lead['correlation_id']}")
    if trace["region"] != region:
        problems.append(f"the {region} lead's trace was read from {trace['region']}")
    written = {str(d["destination"]) for d in trace["deliveries"]}
    declared = _declared_destinations(datamap, region)
    if written and written != declared:
        # Written but not declared: data left for a store the map does not list for the region;
        # declared but not written: the map lists a store the region's data never reaches.
        problems.append(
            f"{region}: written to {sorted(written)}, the data map declares {sorted(declared)}"
        )
    declared_for = _regions_of_destinations(datamap)
    received = {dest: declared_for.get(dest, []) for dest in sorted(written)}
    elsewhere = {dest: where for dest, where in received.items() if where != [region]}
    if elsewhere:
        problems.append(f"{region}'s lead went to destinations declared for {elsewhere}")
    stores = {str(s["name"]): s for s in datamap["stores"]}
    database = stores.get(f"database:{region}")
    if database is None or database["regions"] != [region]:
        problems.append(f"the {region} database is not declared for {region} alone")
    backups = sorted(
        str(s["location"]) for s in datamap["stores"] if s["name"] == f"backups:{region}"
    )
    spread = sorted(
        str(s["location"])
        for s in datamap["stores"]
        if s["name"] == f"backups:{region}" and s["regions"] != [region]
    )
    if not backups:
        problems.append(f"no backups declared for {region}")
    if spread:
        problems.append(f"backups of {region} declared for other regions too: {spread}")
    evidence = {
        "lead": lead["id"],
        "envelope_regions": envelope_regions,
        "destinations": received,
        "backups": backups,
    }
    return problems, evidence


def residency(target: Target, leads: Mapping[str, Mapping[str, Any]]) -> CheckResult:
    """``leads``: the lifecycle lead of each region that has a connection; every other declared
    region gets a lead captured in it here."""
    name = "residency"
    datamap = target.get("/v1/datamap")
    problems: list[str] = []
    evidence: dict[str, Any] = {}
    for region in datamap["regions"]:
        # What the data map declares is judged first: a region whose store is another's may
        # refuse the test lead itself (its data keys are not the region's).
        shared = _shared_locations(datamap["stores"], str(region))
        if shared:
            problems.append(f"{region}'s stores share a location with another region's: {shared}")
        try:
            lead = leads.get(region) or target.capture_lead(f"residency-{region}", region=region)
            found, seen = _region_problems(target, datamap, str(region), lead)
        except TargetError as exc:
            problems.append(f"{region}: no test lead could be kept and read back ({exc})")
            continue
        problems += found
        evidence[str(region)] = seen
    return judged(
        name,
        problems,
        "each region's test lead held in that region only; destinations and backups as declared",
        regions=evidence,
    )
