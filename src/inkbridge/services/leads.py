"""Capturing leads: immutable first-touch attribution, append-only touchpoints, consent ledger."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection

from inkbridge.config_residency import ResidencySettings
from inkbridge.domain.attribution import Touchpoint, first_touch
from inkbridge.domain.consent import (
    ConsentEntry,
    ConsentKind,
    ConsentStatus,
    current_status,
    minimise_ip,
)
from inkbridge.domain.touch_times import public_touch_time, submitted_touch_time
from inkbridge.errors import InvalidInput, NotFound
from inkbridge.ids import hash_identifier, new_id
from inkbridge.services.lead_regions import lead_region
from inkbridge.services.routing import Destination
from inkbridge.store import anonymous_visitors, audit, touchpoints
from inkbridge.store import consents as consent_store
from inkbridge.store import leads as lead_store
from inkbridge.store.database import Databases

# How far a client's clock may be from the server's (config: capture.clock_skew_seconds).
DEFAULT_CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True)
class ConsentInput:
    kind: str
    status: str
    text_version_id: str | None = None
    text_sha256: str | None = None
    locale: str | None = None
    jurisdiction: str | None = None
    method: str = "web_form"
    source: str | None = None


@dataclass(frozen=True)
class LeadCapture:
    email: str
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    phone: str | None = None
    anonymous_id: str | None = None
    owner: str | None = None
    region: str | None = None
    # The region rules' other inputs (services.lead_regions): neither is stored.
    publishable_key: str | None = None
    country: str | None = None
    touchpoints: tuple[Touchpoint, ...] = ()
    consents: tuple[ConsentInput, ...] = ()
    evidence_ip: str | None = None
    evidence_user_agent: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def validate_consent(consent: ConsentInput) -> None:
    if consent.kind not in ConsentKind.__members__.values():
        raise InvalidInput(f"unknown consent kind {consent.kind!r}", field="consents")
    if consent.status not in ConsentStatus.__members__.values():
        raise InvalidInput(f"unknown consent status {consent.status!r}", field="consents")


def _validate(capture: LeadCapture) -> None:
    if "@" not in capture.email or len(capture.email) > 320:
        raise InvalidInput("must be an email address", field="email")
    for consent in capture.consents:
        validate_consent(consent)


def capture_lead(
    databases: Databases,
    capture: LeadCapture,
    now: datetime | None = None,
    *,
    destinations: Mapping[str, Destination] | None = None,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
    residency: ResidencySettings | None = None,
) -> str:
    """Store a new lead in its region with first touch frozen; returns the lead id. Its consent
    is queued for the destinations in the same transaction. The submitted touches' times are
    settled first (domain.touch_times.submitted_touch_time): none in the future beyond
    ``clock_skew``, none before the server first saw the lead's anonymous id. Its region is
    chosen once, here (services.lead_regions)."""
    _validate(capture)
    choice = lead_region(
        databases,
        region=capture.region,
        publishable_key=capture.publishable_key,
        country=capture.country,
        residency=residency or ResidencySettings(),
    )
    region = choice.region
    db = databases[region]
    moment = now or datetime.now(UTC)
    lead_id = new_id("lead")
    correlation_id = new_id("cor")
    earlier = _anonymous_touchpoints(db, capture.anonymous_id)
    capture = _settle_submitted_times(db, capture, moment, clock_skew)
    frozen = first_touch([*earlier, *capture.touchpoints])
    evidence = {
        "ip": minimise_ip(capture.evidence_ip),
        "user_agent_sha256": hash_identifier(capture.evidence_user_agent)
        if capture.evidence_user_agent
        else None,
    }
    with db.transaction() as conn:
        lead_store.insert(
            conn,
            {
                "id": lead_id,
                "region": region,
                "email": capture.email.strip(),
                "first_name": capture.first_name,
                "last_name": capture.last_name,
                "company": capture.company,
                "phone": capture.phone,
                "anonymous_id": capture.anonymous_id,
                "owner": capture.owner,
                "score": 0,
                "first_touch": frozen,
                "correlation_id": correlation_id,
                "created_at": moment,
            },
        )
        touchpoints.add(conn, region, lead_id, capture.anonymous_id, capture.touchpoints)
        check_text_versions(conn, capture.consents)
        last = 0
        for consent in capture.consents:
            last = append_consent(conn, region, lead_id, consent, evidence, moment)
        if last and destinations:
            publish_lead(conn, destinations, lead_id, region, "contact.consent", f"consent:{last}")
        audit.record(
            conn,
            region=region,
            actor="api",
            action="api:lead:captured",
            subject_id=lead_id,
            correlation_id=correlation_id,
            details={
                "touchpoints": len(capture.touchpoints),
                "consents": len(capture.consents),
                "region_rule": choice.rule.value,
            },
        )
    return lead_id


def _settle_submitted_times(
    db: Any, capture: LeadCapture, received_at: datetime, skew: timedelta
) -> LeadCapture:
    if not capture.touchpoints:
        return capture
    first_seen = None
    if capture.anonymous_id:
        with db.reader() as conn:
            first_seen = anonymous_visitors.first_seen_at(conn, capture.anonymous_id)
    settled = tuple(
        replace(t, occurred_at=submitted_touch_time(t.occurred_at, received_at, skew, first_seen))
        for t in capture.touchpoints
    )
    return replace(capture, touchpoints=settled)


def _anonymous_touchpoints(db: Any, anonymous_id: str | None) -> list[Touchpoint]:
    """Touches recorded before the visitor was known: they stitch to the lead by anonymous id,
    so the first touch is the visitor's real first touch."""
    if not anonymous_id:
        return []
    with db.reader() as conn:
        return touchpoints.anonymous(conn, anonymous_id)


def record_touchpoint(
    databases: Databases,
    anonymous_id: str,
    touch: Touchpoint,
    region: str | None = None,
    *,
    received_at: datetime | None = None,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> datetime:
    """Append an anonymous visitor's touch (the capture snippet's page view); returns the time
    stored. ``touch.occurred_at`` is the client's claim: the stored time is the server's
    (``received_at``, default now) unless the claim is within ``clock_skew`` of it, and never
    before the server first saw ``anonymous_id`` (recorded here on the first touch)."""
    if not anonymous_id or len(anonymous_id) > 100:
        raise InvalidInput("anonymous_id must be 1 to 100 characters", field="anonymous_id")
    db = databases[region or databases.home_region]
    received = received_at or datetime.now(UTC)
    with db.transaction() as conn:
        first_seen = anonymous_visitors.seen(conn, anonymous_id, received)
        moment = public_touch_time(touch.occurred_at, received, clock_skew, first_seen)
        touchpoints.add(conn, db.region, None, anonymous_id, (replace(touch, occurred_at=moment),))
    return moment


def append_consent(
    conn: Connection,
    region: str,
    lead_id: str,
    consent: ConsentInput,
    evidence: dict[str, Any],
    at: datetime,
) -> int:
    content = {
        "region": region,
        "lead_id": lead_id,
        "kind": consent.kind,
        "status": consent.status,
        "text_version_id": consent.text_version_id,
        "text_sha256": consent.text_sha256,
        "locale": consent.locale,
        "jurisdiction": consent.jurisdiction,
        "method": consent.method,
        "source": consent.source,
        "occurred_at": at,
        "evidence": evidence,
    }
    return consent_store.append(conn, lead_id, content)


def check_text_versions(conn: Connection, consents: Iterable[ConsentInput]) -> None:
    """A consent naming a text version must match the registered text's hash exactly."""
    for consent in consents:
        if consent.text_version_id is None:
            continue
        registered = consent_store.text_sha256(conn, consent.text_version_id)
        if registered is None:
            raise InvalidInput(
                f"unknown consent text version {consent.text_version_id!r}", field="consents"
            )
        if consent.text_sha256 not in (None, registered):
            raise InvalidInput(
                "text_sha256 does not match the registered text of that version", field="consents"
            )


def publish_lead(
    conn: Connection,
    destinations: Mapping[str, Destination],
    lead_id: str,
    region: str,
    kind: str,
    fact: str,
) -> None:
    """Queue the lead's current record (contact fields, owner, consent) for its destinations."""
    from inkbridge.services.routing import enqueue_for, lead_payload

    lead = lead_payload(conn, lead_id)
    if lead is None:
        return
    correlation_id = lead_store.correlation_id_of(conn, lead_id)
    enqueue_for(
        conn,
        destinations,
        kind=kind,
        region=region,
        record_key=f"lead:{lead_id}",
        fact_key=f"lead:{lead_id}:{fact}",
        payload={"lead": lead, "correlation_id": correlation_id},
        correlation_id=correlation_id,
        now=datetime.now(UTC),
    )


def update_lead(
    databases: Databases,
    lead_id: str,
    changes: dict[str, str | None],
    *,
    destinations: Mapping[str, Destination] | None = None,
) -> None:
    """Change a lead's mutable fields (owner, names, company, phone). First touch is never among
    them."""
    allowed = {"owner", "first_name", "last_name", "company", "phone"}
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise InvalidInput(f"only {sorted(allowed)} can change; not {unknown}", field="body")
    region, lead = find_lead(databases, lead_id)
    with databases[region].transaction() as conn:
        lead_store.update(conn, lead_id, changes)
        version = new_id("upd")
        audit.record(
            conn,
            region=region,
            actor="api",
            action="api:lead:updated",
            subject_id=lead_id,
            correlation_id=lead["correlation_id"],
            details={"fields": sorted(changes)},
        )
        if destinations:
            publish_lead(conn, destinations, lead_id, region, "lead.updated", f"update:{version}")


def find_lead(databases: Databases, lead_id: str) -> tuple[str, dict[str, Any]]:
    """(region, lead row as a dict) or NotFound; leads are looked up in every region."""
    for db in databases:
        with db.reader() as conn:
            row = lead_store.find(conn, lead_id)
        if row is not None:
            return db.region, row
    raise NotFound("lead", lead_id)


def lead_view(databases: Databases, lead_id: str) -> dict[str, Any]:
    region, lead = find_lead(databases, lead_id)
    with databases[region].reader() as conn:
        tps = touchpoints.of_lead(conn, lead_id)
        ledger = consent_store.of_lead(conn, lead_id)
    entries = [
        ConsentEntry(ConsentKind(c.kind), ConsentStatus(c.status), c.occurred_at) for c in ledger
    ]
    return {
        "id": lead["id"],
        "region": region,
        "email": lead["email"],
        "first_name": lead["first_name"],
        "last_name": lead["last_name"],
        "company": lead["company"],
        "phone": lead["phone"],
        "owner": lead["owner"],
        "anonymous_id": lead["anonymous_id"],
        "correlation_id": lead["correlation_id"],
        "created_at": lead["created_at"].isoformat(),
        "first_touch": lead["first_touch"],
        "touchpoints": [t.as_first_touch() for t in tps],
        "consents": [
            {
                "kind": c.kind,
                "status": c.status,
                "text_version_id": c.text_version_id,
                "text_sha256": c.text_sha256,
                "locale": c.locale,
                "jurisdiction": c.jurisdiction,
                "method": c.method,
                "source": c.source,
                "occurred_at": c.occurred_at.isoformat(),
                "hash": c.hash,
            }
            for c in ledger
        ],
        "consent_status": current_status(entries),
    }
