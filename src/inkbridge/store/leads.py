"""Lead rows: inserted once with first touch frozen, looked up by id, and the few mutable fields
(owner, names, company) updated. The rules live in ``services.leads``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from inkbridge.store.schema import envelopes, leads


def insert(conn: Connection, values: dict[str, Any]) -> None:
    """Insert one lead; ``values`` names every column the capture sets."""
    conn.execute(leads.insert().values(**values))


def find(conn: Connection, lead_id: str) -> dict[str, Any] | None:
    """The lead's row as a dict, or None when this region does not hold it."""
    row = conn.execute(select(leads).where(leads.c.id == lead_id)).first()
    return dict(row._mapping) if row is not None else None


def correlation_id_of(conn: Connection, lead_id: str) -> str:
    return str(
        conn.execute(select(leads.c.correlation_id).where(leads.c.id == lead_id)).scalar_one()
    )


def update(conn: Connection, lead_id: str, changes: dict[str, str | None]) -> None:
    conn.execute(leads.update().where(leads.c.id == lead_id).values(**changes))


def envelope_ids_of(conn: Connection, lead_id: str) -> list[str]:
    """The ids of the envelopes sent to the lead, in no particular order."""
    return [
        r.id for r in conn.execute(select(envelopes.c.id).where(envelopes.c.lead_id == lead_id))
    ]


def latest_by_email_hash(conn: Connection, email_hash: str) -> str | None:
    """The id of the newest lead with this email hash, or None."""
    row = conn.execute(
        select(leads.c.id)
        .where(leads.c.email_hash == email_hash)
        .order_by(leads.c.created_at.desc())
        .limit(1)
    ).first()
    return str(row.id) if row is not None else None
