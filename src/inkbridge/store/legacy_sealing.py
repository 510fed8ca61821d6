"""Sealing in place the personal values of rows written before encryption at rest (migration
0011 has no keys, so it leaves them plain): one batch of one table at a time, each value under
the subject its write path uses today, values already sealed left as they are.

Each ``seal_*`` function reads up to ``limit`` rows after the key ``after`` (``None``: from the
start), seals their plain values and returns a :class:`Batch`. The consent ledger's evidence is
not here: its hash chain covers the stored value, so sealing it afterwards would break the
chain (new records are sealed before they are hashed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Select, Table, select, update

from inkbridge.privacy import field_cipher
from inkbridge.privacy.keyring import Subject
from inkbridge.store import receipt_bodies, sealed_fields
from inkbridge.store.database import RegionDatabase
from inkbridge.store.leads import PERSONAL
from inkbridge.store.outbox import payload_subject
from inkbridge.store.schema import envelopes, leads, outbox, recipients, touchpoints
from inkbridge.store.schema import webhook_receipts as receipts
from inkbridge.store.schema_governance import signer_sessions

# Every column (or JSON column, counted per row) this module seals, in the order it reports.
COLUMNS = (
    *(f"leads.{name}" for name in PERSONAL),
    "leads.email_hash",
    "leads.first_touch",
    "touchpoints.referrer",
    "touchpoints.landing_page",
    "envelopes.metadata",
    "envelopes.attribution",
    "recipients.email",
    "recipients.name",
    "signer_sessions.redeemed_ip",
    "signer_sessions.redeemed_user_agent",
    "webhook_receipts.body",
    "outbox.payload",
)


@dataclass
class Batch:
    after: Any  # the last key read, where the next batch starts; None when the walk is done
    sealed: Counter[str] = field(default_factory=Counter)


def _plain_text(value: Any) -> bool:
    return isinstance(value, str) and value != "" and not field_cipher.is_sealed(value)


def _plain_json(value: Any) -> bool:
    # A sealed JSON value is stored as one sealed string; an empty one has nothing personal.
    return not isinstance(value, str) and value not in ({}, [], None)


def _page(query: Select[Any], key: Any, after: Any, limit: int) -> Select[Any]:
    # Locked on PostgreSQL so an erasure running meanwhile cannot interleave; SQLite writers
    # are serialised already (the clause is not rendered there).
    query = query.order_by(key).limit(limit).with_for_update()
    return query.where(key > after) if after is not None else query


def _done(rows: Sequence[Any], limit: int, last: Any, sealed: Counter[str]) -> Batch:
    return Batch(last if len(rows) == limit else None, sealed)


def _seal_texts(
    conn: Connection, subject: Subject, table: str, row: Any, names: tuple[str, ...]
) -> dict[str, Any]:
    return {
        name: sealed_fields.seal_text(conn, subject, f"{table}.{name}", row._mapping[name])
        for name in names
        if _plain_text(row._mapping[name])
    }


def _seal_touch(
    conn: Connection, subject: Subject, column: str, touch: Any
) -> dict[str, Any] | None:
    """The touch with its plain URL fields sealed, or None when none is plain."""
    if not isinstance(touch, dict):
        return None
    plain = [name for name in sealed_fields.URL_FIELDS if _plain_text(touch.get(name))]
    if not plain:
        return None
    return {
        **touch,
        **{
            name: sealed_fields.seal_text(conn, subject, f"{column}.{name}", touch[name])
            for name in plain
        },
    }


def seal_leads(conn: Connection, after: str | None, limit: int) -> Batch:
    """Contact fields, the blind index (recomputed under the region's index key from the plain
    email) and the first touch's URLs."""
    columns = [leads.c[name] for name in PERSONAL]
    rows = conn.execute(
        _page(select(leads.c.id, *columns, leads.c.first_touch), leads.c.id, after, limit)
    ).all()
    sealed: Counter[str] = Counter()
    for row in rows:
        subject = sealed_fields.lead(row.id)
        changes = _seal_texts(conn, subject, "leads", row, PERSONAL)
        if "email" in changes:
            # None when the lead's key was shredded: nothing to find it by then.
            changes["email_hash"] = (
                sealed_fields.email_hash(conn, row.email) if changes["email"] else None
            )
        touch = _seal_touch(conn, subject, "leads.first_touch", row.first_touch)
        if touch is not None:
            changes["first_touch"] = touch
        if changes:
            conn.execute(update(leads).where(leads.c.id == row.id).values(**changes))
            sealed.update(f"leads.{name}" for name in changes)
    return _done(rows, limit, rows[-1].id if rows else None, sealed)


def seal_touchpoints(conn: Connection, after: int | None, limit: int) -> Batch:
    """A touch's URLs, under its lead's key or, before it had one, its visitor's."""
    c = touchpoints.c
    query = select(c.id, c.lead_id, c.anonymous_id, c.referrer, c.landing_page)
    rows = conn.execute(_page(query, c.id, after, limit)).all()
    sealed: Counter[str] = Counter()
    for row in rows:
        subject = (
            sealed_fields.lead(row.lead_id)
            if row.lead_id
            else sealed_fields.visitor(row.anonymous_id or "")
        )
        changes = _seal_texts(conn, subject, "touchpoints", row, sealed_fields.URL_FIELDS)
        if changes:
            conn.execute(update(touchpoints).where(c.id == row.id).values(**changes))
            sealed.update(f"touchpoints.{name}" for name in changes)
    return _done(rows, limit, rows[-1].id if rows else None, sealed)


def seal_envelopes(conn: Connection, after: str | None, limit: int) -> Batch:
    """An envelope's metadata and attribution URLs, and its recipients and signer sessions, all
    under the envelope's subject (its lead's key, or its own while it has no lead)."""
    c = envelopes.c
    query = select(c.id, c.lead_id, c.metadata, c.attribution)
    rows = conn.execute(_page(query, c.id, after, limit)).all()
    sealed: Counter[str] = Counter()
    for row in rows:
        subject = sealed_fields.envelope_subject(row.id, row.lead_id)
        changes: dict[str, Any] = {}
        if _plain_json(row.metadata):
            changes["metadata"] = sealed_fields.seal_json(
                conn, subject, "envelopes.metadata", row.metadata
            )
        touch = _seal_touch(conn, subject, "envelopes.attribution", row.attribution)
        if touch is not None:
            changes["attribution"] = touch
        if changes:
            conn.execute(update(envelopes).where(c.id == row.id).values(**changes))
            sealed.update(f"envelopes.{name}" for name in changes)
        for table, key, names in _ENVELOPE_ROWS:
            sealed.update(_seal_envelope_rows(conn, subject, row.id, table, key, names))
    return _done(rows, limit, rows[-1].id if rows else None, sealed)


# The rows of an envelope sealed with it: (table, the key of a row within the envelope, texts).
_ENVELOPE_ROWS = (
    (recipients, "recipient_id", ("email", "name")),
    (signer_sessions, "id", ("redeemed_ip", "redeemed_user_agent")),
)


def _seal_envelope_rows(
    conn: Connection,
    subject: Subject,
    envelope_id: str,
    table: Table,
    key: str,
    names: tuple[str, ...],
) -> Counter[str]:
    """Seal the plain texts ``names`` of ``table``'s rows of one envelope (its recipients, its
    signer sessions), each row written back by the envelope and its ``key``."""
    c = table.c
    rows = conn.execute(
        select(c[key], *(c[name] for name in names))
        .where(c.envelope_id == envelope_id)
        .with_for_update()
    ).all()
    sealed: Counter[str] = Counter()
    for row in rows:
        changes = _seal_texts(conn, subject, table.name, row, names)
        if changes:
            conn.execute(
                update(table)
                .where(c.envelope_id == envelope_id, c[key] == row._mapping[key])
                .values(**changes)
            )
            sealed.update(f"{table.name}.{name}" for name in changes)
    return sealed


def seal_receipts(conn: Connection, after: int | None, limit: int) -> Batch:
    """A receipt's body and headers under a fresh inline key of its own, as the hot path seals
    them (counted once per receipt, as ``webhook_receipts.body``). Receipts whose body and
    headers were already emptied (retention, a refused residency) are left as they are."""
    c = receipts.c
    query = select(c.id, c.connection, c.dedup_key, c.headers, c.body).where(c.body_key.is_(None))
    rows = conn.execute(_page(query, c.id, after, limit)).all()
    keyring = sealed_fields.keyring_of(conn)
    sealed: Counter[str] = Counter()
    for row in rows:
        body = bytes(row.body)
        if field_cipher.is_sealed(body) or (not body and not row.headers):
            continue  # sealed and then shredded, or emptied
        headers = row.headers if isinstance(row.headers, dict) else {}
        done = receipt_bodies.seal(keyring, row.connection, row.dedup_key, headers, body)
        conn.execute(
            update(receipts)
            .where(c.id == row.id, c.body_key.is_(None))
            .values(
                body=done.body,
                headers=done.headers,
                body_key=done.body_key,
                body_kek_id=done.body_kek_id,
            )
        )
        sealed["webhook_receipts.body"] += 1
    return _done(rows, limit, rows[-1].id if rows else None, sealed)


def seal_outbox(conn: Connection, after: int | None, limit: int) -> Batch:
    """An outbox row's payload, under the subject ``enqueue`` would choose for it."""
    c = outbox.c
    rows = conn.execute(_page(select(c.id, c.record_key, c.payload), c.id, after, limit)).all()
    sealed: Counter[str] = Counter()
    for row in rows:
        if not _plain_json(row.payload) or not isinstance(row.payload, dict):
            continue
        subject = payload_subject(row.payload, row.record_key)
        value = sealed_fields.seal_json(conn, subject, "outbox.payload", row.payload)
        conn.execute(update(outbox).where(c.id == row.id).values(payload=value))
        sealed["outbox.payload"] += 1
    return _done(rows, limit, rows[-1].id if rows else None, sealed)


def compact_sqlite(db: RegionDatabase) -> bool:
    """SQLite: rewrite the database file (VACUUM) and empty its write-ahead log, so no page the
    sealing replaced keeps a plain copy in free space or in the log. True when the log was
    emptied (a reader holding it open can keep it); nothing to do on PostgreSQL (True)."""
    if not db.is_sqlite:
        return True
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("VACUUM")  # outside any transaction: the driver's autocommit is ours
        cursor.close()
    finally:
        raw.close()
    return db.truncate_wal(wait_ms=2000)
