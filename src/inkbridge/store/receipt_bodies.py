"""Sealing a receipt's body and headers under a fresh data key of its own, wrapped inline (the
row's ``body_key`` under the KEK ``body_kek_id``): the hot path writes no extra row and looks
nothing up. The writer thread seals, never the event loop. Erasure shreds a receipt by setting
its ``body_key`` to NULL; rotation re-wraps the inline keys like every other data key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, select, update

from inkbridge.privacy import field_cipher
from inkbridge.privacy.keyring import Keyring
from inkbridge.privacy.region_keys import RegionKeys
from inkbridge.store.schema import envelope_events, webhook_receipts

# Sealed values of a receipt name its inline key by this id.
INLINE_KEY_ID = "r"
BODY = "webhook_receipts.body"
HEADERS = "webhook_receipts.headers"


def _label(connection: str, dedup_key: str) -> str:
    # What a receipt is unique on: an inline key copied onto another receipt does not unwrap.
    return f"receipt|{connection}|{dedup_key}"


@dataclass(frozen=True, slots=True)
class SealedReceipt:
    body: bytes
    headers: str  # stored as a JSON string in the JSON column
    body_key: bytes
    body_kek_id: str


def seal(
    keyring: Keyring, connection: str, dedup_key: str, headers: dict[str, str], body: bytes
) -> SealedReceipt:
    raw = field_cipher.new_key()
    cipher = AESGCM(raw)
    kek_id, wrapped = keyring.keys.wrap(raw, _label(connection, dedup_key))
    return SealedReceipt(
        body=field_cipher.seal_bytes(cipher, INLINE_KEY_ID, BODY, body),
        headers=field_cipher.seal_text(
            cipher, INLINE_KEY_ID, HEADERS, json.dumps(headers, separators=(",", ":"))
        ),
        body_key=wrapped,
        body_kek_id=kek_id,
    )


def opened(keyring: Keyring, row: Any) -> tuple[dict[str, str], bytes]:
    """A receipt row's (headers, body): plain in rows written before encryption, empty once
    the receipt was shredded."""
    body, headers = bytes(row.body), row.headers
    if not field_cipher.is_sealed(body):
        return dict(headers or {}), body
    if row.body_key is None:
        return {}, b""
    raw = keyring.keys.unwrap(
        row.body_kek_id, bytes(row.body_key), _label(row.connection, row.dedup_key)
    )
    cipher = AESGCM(raw)
    plain_headers = json.loads(field_cipher.open_text(cipher, HEADERS, headers))
    return dict(plain_headers), field_cipher.open_bytes(cipher, BODY, body)


def rewrap_batch(conn: Connection, keys: RegionKeys, *, limit: int = 500) -> int:
    """Re-wrap under the current KEK up to ``limit`` receipt keys still under an older one."""
    columns = webhook_receipts.c
    rows = conn.execute(
        select(
            columns.id, columns.connection, columns.dedup_key, columns.body_key, columns.body_kek_id
        )
        .where(columns.body_kek_id.is_not(None), columns.body_kek_id != keys.current.id)
        .limit(limit)
    ).all()
    for row in rows:
        label = _label(row.connection, row.dedup_key)
        raw = keys.unwrap(row.body_kek_id, bytes(row.body_key), label)
        kek_id, wrapped = keys.wrap(raw, label)
        conn.execute(
            update(webhook_receipts)
            .where(columns.id == row.id, columns.body_kek_id == row.body_kek_id)
            .values(body_key=wrapped, body_kek_id=kek_id)
        )
    return len(rows)


def shred_of_lead(conn: Connection, lead_id: str) -> int:
    """Shred the inline keys of every receipt linked to ``lead_id``; returns how many."""
    result = conn.execute(
        update(webhook_receipts)
        .where(webhook_receipts.c.lead_id == lead_id, webhook_receipts.c.body_key.is_not(None))
        .values(body_key=None, body_kek_id=None)
    )
    return int(result.rowcount)


def shred_of_envelopes(conn: Connection, envelope_ids: list[str]) -> int:
    """Shred the inline keys of every receipt that carried an event of these envelopes (also
    those settled before the envelope had a lead); returns how many."""
    if not envelope_ids:
        return 0
    about = select(envelope_events.c.receipt_id).where(
        envelope_events.c.envelope_id.in_(envelope_ids)
    )
    result = conn.execute(
        update(webhook_receipts)
        .where(webhook_receipts.c.id.in_(about), webhook_receipts.c.body_key.is_not(None))
        .values(body_key=None, body_kek_id=None)
    )
    return int(result.rowcount)
