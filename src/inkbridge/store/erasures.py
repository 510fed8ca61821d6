"""Erasure rows and the SQL of an erasure: the record of each erased lead, the outbox changes it
withdraws, and the in-place anonymisation of the person's fields (the stand-in for destroying
their data key; ``services.erasure`` owns the rules).

Nothing here touches a hash-chained table: the consent ledger, the audit log and the event log
keep every hashed column as it was, so their chains still verify after an erasure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, or_, select, update

from inkbridge.domain.queue_states import OutboxStatus
from inkbridge.store import sealed_fields
from inkbridge.store.schema import envelopes, erasures, leads, outbox, recipients, touchpoints

# The lead's fields that name the person; NULL after an erasure.
PERSON_COLUMNS = ("email", "email_hash", "first_name", "last_name", "company", "phone")
# Changes not yet sent (or given up on, and so replayable) that an erasure withdraws.
WITHDRAWABLE = (OutboxStatus.PENDING, OutboxStatus.DEAD)


@dataclass(frozen=True)
class ErasureRow:
    id: str
    region: str
    lead_id: str
    actor: str
    requested_at: datetime
    destinations: tuple[str, ...]
    cancelled_changes: int
    correlation_id: str | None


def find(conn: Connection, lead_id: str) -> ErasureRow | None:
    """The lead's erasure, or None when it was never erased."""
    row = conn.execute(select(erasures).where(erasures.c.lead_id == lead_id)).first()
    if row is None:
        return None
    # The table's columns are the row's fields; JSON and integer columns read back typed.
    values = dict(row._mapping)
    typed = {
        "destinations": tuple(values["destinations"]),
        "cancelled_changes": int(values["cancelled_changes"]),
    }
    return ErasureRow(**(values | typed))


def insert(conn: Connection, row: ErasureRow) -> None:
    """Record an erasure; a second one for the same lead violates the unique lead id."""
    values = asdict(row) | {"destinations": list(row.destinations)}
    conn.execute(erasures.insert().values(**values))


def lock_lead(conn: Connection, lead_id: str) -> dict[str, Any] | None:
    """The lead's row, locked for the rest of the transaction on PostgreSQL (SQLite's write
    transaction already serialises writers), so two erasure requests cannot both go ahead."""
    query = select(leads).where(leads.c.id == lead_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    return dict(row._mapping) if row is not None else None


def record_keys(lead_id: str, envelope_ids: Iterable[str]) -> list[str]:
    """The outbox records that carry the person: the lead's and its envelopes'."""
    return [f"lead:{lead_id}", *(f"envelope:{e}" for e in sorted(envelope_ids))]


def _of_person(keys: Sequence[str], lead_id: str) -> Any:
    # Journey and task changes are keyed by the lead; the payload names it in every kind.
    return or_(outbox.c.record_key.in_(keys), outbox.c.idempotency_key.like(f"lead:{lead_id}:%"))


def cancel_changes(
    conn: Connection, lead_id: str, envelope_ids: Iterable[str], now: datetime
) -> int:
    """Withdraw the pending and dead changes of the person's records; returns how many.

    In-flight changes are left to finish: their lease holds a worker's send, and the erasure
    change queued behind them on the same record is delivered after they settle."""
    keys = record_keys(lead_id, envelope_ids)
    result = conn.execute(
        update(outbox)
        .where(_of_person(keys, lead_id), outbox.c.status.in_(WITHDRAWABLE))
        .values(
            status=OutboxStatus.CANCELLED,
            delivered_at=now,
            lease_until=None,
            last_error="cancelled by erasure",
        )
    )
    return int(result.rowcount)


def scrub_payloads(
    conn: Connection,
    lead_id: str,
    envelope_ids: Iterable[str],
    scrub: Callable[[Any], Any],
    keep_kind: str,
) -> None:
    """Rewrite the payloads of the person's outbox rows through ``scrub``, except the rows of
    ``keep_kind`` (the erasure changes, whose identifiers the destinations still need)."""
    keys = record_keys(lead_id, envelope_ids)
    rows = conn.execute(
        select(outbox.c.id, outbox.c.payload).where(
            _of_person(keys, lead_id), outbox.c.kind != keep_kind
        )
    ).all()
    for row in rows:
        cleaned = scrub(row.payload)
        if cleaned != row.payload:
            conn.execute(update(outbox).where(outbox.c.id == row.id).values(payload=cleaned))


def anonymise_lead(conn: Connection, lead_id: str, first_touch: dict[str, Any]) -> None:
    """NULL the lead's person columns; ``first_touch`` is the minimised frozen first touch."""
    values: dict[str, Any] = dict.fromkeys(PERSON_COLUMNS)
    values["first_touch"] = first_touch
    conn.execute(update(leads).where(leads.c.id == lead_id).values(**values))


def anonymise_recipients(conn: Connection, envelope_ids: Sequence[str]) -> list[dict[str, Any]]:
    """NULL the email and name of every recipient of these envelopes; returns what they held
    (so the caller can scrub the same values elsewhere)."""
    if not envelope_ids:
        return []
    held = [
        {
            "email": sealed_fields.open_text(conn, "recipients.email", r.email),
            "name": sealed_fields.open_text(conn, "recipients.name", r.name),
        }
        for r in conn.execute(
            select(recipients.c.email, recipients.c.name).where(
                recipients.c.envelope_id.in_(envelope_ids)
            )
        )
    ]
    conn.execute(
        update(recipients)
        .where(recipients.c.envelope_id.in_(envelope_ids))
        .values(email=None, name=None)
    )
    return held


def envelopes_of(conn: Connection, lead_id: str) -> list[dict[str, Any]]:
    """The lead's envelopes: id, attribution and metadata (opened)."""
    return [
        {
            "id": r.id,
            "attribution": sealed_fields.open_urls(conn, "envelopes.attribution", r.attribution),
            "metadata": sealed_fields.open_json(conn, "envelopes.metadata", r.metadata) or {},
        }
        for r in conn.execute(
            select(envelopes.c.id, envelopes.c.attribution, envelopes.c.metadata).where(
                envelopes.c.lead_id == lead_id
            )
        )
    ]


def rewrite_envelope(
    conn: Connection, envelope_id: str, attribution: dict[str, Any], metadata: dict[str, Any]
) -> None:
    """Store an envelope's minimised attribution and metadata. The state is untouched but the
    version moves: a worker that read the envelope before the erasure (a batch keeps the rows
    it read) loses its compare-and-set and reads the minimised row again, so no change built
    from the old attribution goes out after the erasure."""
    conn.execute(
        update(envelopes)
        .where(envelopes.c.id == envelope_id)
        .values(attribution=attribution, metadata=metadata, version=envelopes.c.version + 1)
    )


def touch_urls(conn: Connection, lead_id: str) -> list[tuple[int, str | None, str | None]]:
    """(id, referrer, landing page) of the lead's touchpoints."""
    rows = conn.execute(
        select(touchpoints.c.id, touchpoints.c.referrer, touchpoints.c.landing_page).where(
            touchpoints.c.lead_id == lead_id
        )
    )
    return [
        (
            int(r.id),
            sealed_fields.open_text(conn, "touchpoints.referrer", r.referrer),
            sealed_fields.open_text(conn, "touchpoints.landing_page", r.landing_page),
        )
        for r in rows
    ]


def rewrite_touch_urls(
    conn: Connection, touch_id: int, referrer: str | None, landing_page: str | None
) -> None:
    conn.execute(
        update(touchpoints)
        .where(touchpoints.c.id == touch_id)
        .values(referrer=referrer, landing_page=landing_page)
    )
