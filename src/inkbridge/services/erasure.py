"""Erasure of a lead (GDPR Art. 17): in one transaction of the lead's region, record it, withdraw
the changes that would re-send the person's data, queue one ``lead.erased`` change per
destination that may hold the region's data, and destroy the person's data.

Legal evidence stays: the consent ledger, the audit log and the event log are hash-chained and
keep every hashed value (the consent evidence is already minimised at capture: a truncated IP and
a hash of the user agent), so ``inkbridge verify`` and ``inkbridge consent verify`` pass after an
erasure. Reports count the conversion as before: ids, states, milestones, UTM columns and the
stored attribution journeys are not personal data and are not touched.

The person's data is destroyed in ``_destroy_personal_data``, the one place to plug in the
destruction of the subject's data key (crypto-shredding) once personal fields are encrypted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection

from inkbridge.connectors.kinds import LEAD_ERASED
from inkbridge.domain.residency import may_send
from inkbridge.errors import NotFound
from inkbridge.ids import hash_identifier, new_id
from inkbridge.services.golive_mark import marked
from inkbridge.services.leads import find_lead
from inkbridge.services.routing import Destination
from inkbridge.store import audit, data_keys, outbox, receipt_bodies
from inkbridge.store import erasures as erasure_store
from inkbridge.store import leads as lead_store
from inkbridge.store.database import Databases
from inkbridge.store.erasures import ErasureRow
from inkbridge.store.sealed_fields import keyring_of

# Envelope metadata inkbridge writes itself (ids, correlation, attribution identifiers, a CRM
# deal id): everything else in it came from outside and may name the person.
OWN_METADATA_PREFIX = "inkbridge_"
URL_FIELDS = ("referrer", "landing_page")
# The fields of an outbound ``lead`` object that name the person.
PERSON_FIELDS = frozenset({"email", "first_name", "last_name", "company", "phone"})


@dataclass(frozen=True)
class Erasure:
    """An erasure as the API shows it; ``created`` is False when the lead was already erased."""

    id: str
    lead_id: str
    region: str
    requested_at: datetime
    destinations: tuple[str, ...]
    cancelled_changes: int
    created: bool

    @classmethod
    def from_row(cls, row: ErasureRow, *, created: bool) -> Erasure:
        return cls(
            id=row.id,
            lead_id=row.lead_id,
            region=row.region,
            requested_at=row.requested_at,
            destinations=row.destinations,
            cancelled_changes=row.cancelled_changes,
            created=created,
        )

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "lead_id": self.lead_id,
            "region": self.region,
            "requested_at": self.requested_at.isoformat(),
            "destinations": list(self.destinations),
            "cancelled_changes": self.cancelled_changes,
            "status": "accepted" if self.created else "already_erased",
        }


def erase_lead(
    databases: Databases,
    lead_id: str,
    *,
    destinations: Mapping[str, Destination],
    actor: str = "api",
    now: datetime | None = None,
) -> Erasure:
    """Erase the lead; a second request returns the first erasure and changes nothing."""
    region = _region_of(databases, lead_id)
    moment = now or datetime.now(UTC)
    with databases[region].transaction() as conn:
        locked = erasure_store.lock_lead(conn, lead_id)
        if locked is None:  # pragma: no cover - leads are never deleted
            raise NotFound("lead", lead_id)
        lead = lead_store.opened(conn, locked)
        existing = erasure_store.find(conn, lead_id)
        if existing is not None:
            return Erasure.from_row(existing, created=False)
        envelopes = erasure_store.envelopes_of(conn, lead_id)
        envelope_ids = [str(e["id"]) for e in envelopes]
        cancelled = erasure_store.cancel_changes(conn, lead_id, envelope_ids, moment)
        row = ErasureRow(
            id=new_id("era"),
            region=region,
            lead_id=lead_id,
            actor=actor,
            requested_at=moment,
            destinations=(),
            cancelled_changes=cancelled,
            correlation_id=lead["correlation_id"],
        )
        sent_to = _enqueue_erasure(conn, destinations, lead, row)
        row = replace(row, destinations=tuple(sent_to))
        _destroy_personal_data(conn, lead, envelopes)
        erasure_store.insert(conn, row)
        email = lead["email"]
        audit.record(
            conn,
            region=region,
            actor=actor,
            action="api:lead:erased",
            subject_id=lead_id,
            correlation_id=lead["correlation_id"],
            details={
                "erasure_id": row.id,
                "email_sha256": hash_identifier(email) if email else None,
                "destinations": sent_to,
                "cancelled_changes": cancelled,
            },
            at=moment,
        )
    return Erasure.from_row(row, created=True)


def find_erasure(databases: Databases, lead_id: str) -> Erasure:
    """The lead's erasure; NotFound for an unknown lead or one that was not erased."""
    region = _region_of(databases, lead_id)
    with databases[region].reader() as conn:
        row = erasure_store.find(conn, lead_id)
    if row is None:
        raise NotFound("erasure", lead_id)
    return Erasure.from_row(row, created=False)


def _region_of(databases: Databases, lead_id: str) -> str:
    region, _ = find_lead(databases, lead_id)
    return region


def _enqueue_erasure(
    conn: Connection,
    destinations: Mapping[str, Destination],
    lead: Mapping[str, Any],
    erasure: ErasureRow,
) -> list[str]:
    """One ``lead.erased`` change per destination that may hold the region's data, whatever it
    subscribes to: any of them may have received the person, and erasing is not optional."""
    lead_id = str(lead["id"])
    identifiers = {"id": lead_id, "email": lead["email"]}
    payload = {
        "erasure": {
            "id": erasure.id,
            "lead_id": lead_id,
            "email": lead["email"],
            "requested_at": erasure.requested_at.isoformat(),
        },
        "lead": identifiers,
        "correlation_id": erasure.correlation_id,
    }
    payload = marked(payload)  # a golive test lead's erasure carries the test mark too
    sent_to = []
    for dest in destinations.values():
        if not may_send(erasure.region, dest.settings.regions):
            continue
        outbox.enqueue(
            conn,
            region=erasure.region,
            destination=dest.name,
            idempotency_key=f"lead:{lead_id}:erased",
            record_key=f"lead:{lead_id}",
            kind=LEAD_ERASED,
            payload=payload,
            correlation_id=erasure.correlation_id,
            now=erasure.requested_at,
            # Sealed under a key of the erasure's own: the person's key is shredded in this
            # transaction, and the destinations still need these identifiers once.
            subject=("erasure", erasure.id),
        )
        sent_to.append(dest.name)
    return sorted(sent_to)


def _destroy_personal_data(
    conn: Connection, lead: Mapping[str, Any], envelopes: list[dict[str, Any]]
) -> None:
    """Destroy the person's data in this region's database.

    First the fields are anonymised in place (rows written before encryption at rest hold them
    in plain text, and the report's channel reads only whether a referrer was there): the
    lead's email, email hash, names, company and phone; its recipients' emails and names; envelope
    metadata that inkbridge did not write (merge fields); referrer and landing page reduced to
    their origin; and the copies of those values in the payloads of the lead's earlier outbox
    changes. Then the person's data keys are shredded (the lead's, its envelopes', its
    visitor id's, and the inline keys of the receipts about its envelopes), so whatever was
    sealed under them is unreadable here and in any backup taken afterwards.
    """
    lead_id = str(lead["id"])
    envelope_ids = [str(e["id"]) for e in envelopes]
    held = erasure_store.anonymise_recipients(conn, envelope_ids)
    values = {
        str(v)
        for v in [
            *(lead.get(c) for c in ("email", "first_name", "last_name", "company", "phone")),
            *(r["email"] for r in held),
            *(r["name"] for r in held),
        ]
        if v
    }
    for envelope in envelopes:
        metadata = {
            k: v
            for k, v in dict(envelope["metadata"] or {}).items()
            if k.startswith(OWN_METADATA_PREFIX)
        }
        values |= {
            str(v) for k, v in dict(envelope["metadata"] or {}).items() if k not in metadata and v
        }
        attribution = minimised_touch(dict(envelope["attribution"] or {}))
        erasure_store.rewrite_envelope(conn, str(envelope["id"]), attribution, metadata)
    for touch_id, referrer, landing_page in erasure_store.touch_urls(conn, lead_id):
        erasure_store.rewrite_touch_urls(conn, touch_id, origin(referrer), origin(landing_page))
    erasure_store.anonymise_lead(conn, lead_id, minimised_touch(dict(lead["first_touch"] or {})))
    erasure_store.scrub_payloads(
        conn, lead_id, envelope_ids, lambda payload: scrubbed(payload, values), LEAD_ERASED
    )
    keyring = keyring_of(conn)
    data_keys.shred_subject(conn, "lead", lead_id, keyring)
    for envelope_id in envelope_ids:
        data_keys.shred_subject(conn, "envelope", envelope_id, keyring)
    if lead.get("anonymous_id"):
        data_keys.shred_subject(conn, "visitor", str(lead["anonymous_id"]), keyring)
    receipt_bodies.shred_of_lead(conn, lead_id)
    receipt_bodies.shred_of_envelopes(conn, envelope_ids)


def origin(url: str | None) -> str | None:
    """``https://host`` of a URL: path and query (where personal data hides) dropped. A value
    that is no URL becomes ``redacted`` (still a value: a referrer was there)."""
    if not url:
        return url
    parts = urlsplit(url)
    if parts.scheme and parts.hostname:
        return f"{parts.scheme}://{parts.hostname}"
    return "redacted"


def minimised_touch(touch: dict[str, Any]) -> dict[str, Any]:
    """A first-touch record with its URLs reduced to their origin."""
    for name in URL_FIELDS:
        if name in touch:
            touch[name] = origin(touch[name])
    return touch


def scrubbed(value: Any, personal: set[str]) -> Any:
    """``value`` (decoded JSON) with the person's fields of a ``lead`` object (also values it
    held before a change) and every string equal to a personal value replaced by None, and
    every URL field reduced to its origin."""
    if isinstance(value, dict):
        return {k: _scrubbed_field(k, v, personal) for k, v in value.items()}
    if isinstance(value, list):
        return [scrubbed(v, personal) for v in value]
    if isinstance(value, str) and value in personal:
        return None
    return value


def _scrubbed_field(key: str, value: Any, personal: set[str]) -> Any:
    if key in URL_FIELDS and isinstance(value, str):
        return origin(value)
    if key == "lead" and isinstance(value, dict):
        return scrubbed({**value, **dict.fromkeys(PERSON_FIELDS & value.keys())}, personal)
    return scrubbed(value, personal)
