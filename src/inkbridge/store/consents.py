"""The consent ledger and the registry of consent texts: each lead's records are a hash chain
(appended, never updated), each text version is stored with its SHA-256."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, select

from inkbridge.domain.consent import ConsentEntry, ConsentKind, ConsentStatus
from inkbridge.store import chains, sealed_fields
from inkbridge.store.schema import consent_records, consent_texts

# The columns a consent record's hash covers, in chain order.
CONSENT_CONTENT = [
    "region",
    "lead_id",
    "kind",
    "status",
    "text_version_id",
    "text_sha256",
    "locale",
    "jurisdiction",
    "method",
    "source",
    "occurred_at",
    "evidence",
]


def _chain(lead_id: str) -> str:
    return f"consent:{lead_id}"


def append(conn: Connection, lead_id: str, content: dict[str, Any]) -> int:
    """Append one record (``content`` holds every column of ``CONSENT_CONTENT``) to the lead's
    chain; returns its sequence number. The evidence (IP, user agent) is sealed under the lead's
    key, and the chain hashes the sealed value: an erasure leaves the chain verifiable."""
    content = {
        **content,
        "evidence": sealed_fields.seal_json(
            conn, sealed_fields.lead(lead_id), "consent_records.evidence", content["evidence"]
        ),
    }
    seq, _ = chains.append(conn, consent_records, _chain(lead_id), content)
    return seq


def of_lead(conn: Connection, lead_id: str) -> Sequence[Row[Any]]:
    """A lead's ledger, in the order it was written."""
    return conn.execute(
        select(consent_records)
        .where(consent_records.c.lead_id == lead_id)
        .order_by(consent_records.c.id)
    ).all()


def entries(conn: Connection, lead_id: str) -> list[ConsentEntry]:
    """A lead's ledger as the domain reads it (kind, status, time), in the order it was
    written."""
    rows = conn.execute(
        select(consent_records.c.kind, consent_records.c.status, consent_records.c.occurred_at)
        .where(consent_records.c.lead_id == lead_id)
        .order_by(consent_records.c.id)
    )
    return [ConsentEntry(ConsentKind(r.kind), ConsentStatus(r.status), r.occurred_at) for r in rows]


def verify_ledgers(conn: Connection, region: str) -> list[chains.ChainBreak]:
    """Walk every lead's ledger in this region and report each break (edit, removal,
    truncation), including ledgers whose records are gone but whose head remains."""
    heads = chains.heads(conn, prefix="consent:")
    lead_ids = {r[0] for r in conn.execute(select(consent_records.c.lead_id).distinct())}
    breaks: list[chains.ChainBreak] = []
    for lead_id in sorted(lead_ids | {n.split(":", 1)[1] for n in heads}):
        rows = (dict(r._mapping) for r in of_lead(conn, lead_id))
        found = chains.verify_entries(
            f"{region}:consent:{lead_id}",
            rows,
            CONSENT_CONTENT,
            heads.get(_chain(lead_id), ("0" * 64, 0)),
        )
        if found:
            breaks.append(found)
    return breaks


def register_text(conn: Connection, row: dict[str, Any]) -> None:
    """Store one version of a consent text (``row`` holds every column)."""
    conn.execute(consent_texts.insert().values(**row))


def find_text(conn: Connection, version_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(consent_texts).where(consent_texts.c.id == version_id)).first()
    return dict(row._mapping) if row is not None else None


def text_sha256(conn: Connection, version_id: str) -> str | None:
    """The registered hash of a text version, or None when there is no such version."""
    found = conn.execute(
        select(consent_texts.c.sha256).where(consent_texts.c.id == version_id)
    ).first()
    return str(found.sha256) if found is not None else None
