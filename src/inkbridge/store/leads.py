"""Lead rows: inserted once with first touch frozen, looked up by id or by email (through the
region's blind index), and the few mutable fields (owner, names, company, phone) updated. The
personal fields are sealed under the lead's data key here, on the way in and out. The rules live
in ``services.leads``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from inkbridge.ids import hash_identifier
from inkbridge.store import sealed_fields
from inkbridge.store.schema import envelopes, leads

# Sealed under the lead's key: the contact fields.
PERSONAL = ("email", "first_name", "last_name", "company", "phone")


def _sealed(conn: Connection, lead_id: str, values: dict[str, Any]) -> dict[str, Any]:
    subject = sealed_fields.lead(lead_id)
    out = dict(values)
    for name in PERSONAL:
        if name in values:
            out[name] = sealed_fields.seal_text(conn, subject, f"leads.{name}", values[name])
    if "first_touch" in values:
        out["first_touch"] = sealed_fields.seal_urls(
            conn, subject, "leads.first_touch", values["first_touch"]
        )
    return out


def opened(conn: Connection, row: dict[str, Any]) -> dict[str, Any]:
    """A lead row as stored, with its sealed fields opened."""
    out = dict(row)
    for name in PERSONAL:
        if name in row:
            out[name] = sealed_fields.open_text(conn, f"leads.{name}", row[name])
    if "first_touch" in row:
        out["first_touch"] = sealed_fields.open_urls(conn, "leads.first_touch", row["first_touch"])
    return out


def insert(conn: Connection, values: dict[str, Any]) -> None:
    """Insert one lead; ``values`` names every column the capture sets, in plain text: the
    personal ones are sealed and ``email_hash`` is the blind index of ``email``."""
    row = _sealed(conn, values["id"], values)
    if values.get("email"):
        row["email_hash"] = sealed_fields.email_hash(conn, values["email"])
    conn.execute(leads.insert().values(**row))


def find(conn: Connection, lead_id: str) -> dict[str, Any] | None:
    """The lead's row as a dict (personal fields opened), or None when this region does not
    hold it."""
    row = conn.execute(select(leads).where(leads.c.id == lead_id)).first()
    return opened(conn, dict(row._mapping)) if row is not None else None


def correlation_id_of(conn: Connection, lead_id: str) -> str:
    return str(
        conn.execute(select(leads.c.correlation_id).where(leads.c.id == lead_id)).scalar_one()
    )


def update(conn: Connection, lead_id: str, changes: dict[str, str | None]) -> None:
    conn.execute(
        leads.update().where(leads.c.id == lead_id).values(**_sealed(conn, lead_id, changes))
    )


def envelope_ids_of(conn: Connection, lead_id: str) -> list[str]:
    """The ids of the envelopes sent to the lead, in no particular order."""
    return [
        r.id for r in conn.execute(select(envelopes.c.id).where(envelopes.c.lead_id == lead_id))
    ]


def latest_by_email(conn: Connection, email: str) -> dict[str, Any] | None:
    """The newest lead with this email (found by the blind index), opened, or None. Leads
    stored before encryption carry the older plain hash, which is looked up too."""
    digests = [hash_identifier(email)]
    blind = sealed_fields.email_lookup_hash(conn, email)
    if blind is not None:
        digests.append(blind)
    row = conn.execute(
        select(leads)
        .where(leads.c.email_hash.in_(digests))
        .order_by(leads.c.created_at.desc())
        .limit(1)
    ).first()
    return opened(conn, dict(row._mapping)) if row is not None else None
