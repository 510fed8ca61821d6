"""Publishable key rows: inserted with the key's hash only, looked up by hash, revoked by a
guarded update. The rules (origins, rates, audit) live in ``services.publishable_keys``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from inkbridge.store.records import columns_of, record_from
from inkbridge.store.schema import publishable_keys
from inkbridge.store.set_once import set_once


@dataclass(frozen=True)
class StoredKey:
    """One publishable key as stored: never the key, only what identifies and limits it."""

    id: str
    name: str
    origins: list[str]
    region: str | None
    rate_per_minute: int | None
    created_at: datetime
    revoked_at: datetime | None = None


# The columns a StoredKey is read from: they carry its field names (never the hash).
_FIELDS = columns_of(publishable_keys, StoredKey)


def insert(conn: Connection, key: StoredKey, *, key_hash: str) -> None:
    conn.execute(publishable_keys.insert().values(**asdict(key), key_hash=key_hash))


def revoke(conn: Connection, key_id: str, now: datetime) -> bool:
    """Revoke a key unless it already is; True when this call revoked it."""
    return set_once(conn, publishable_keys.c.revoked_at, key_id, now)


def all_keys(conn: Connection) -> list[StoredKey]:
    """Every key, revoked ones included, oldest first."""
    query = select(*_FIELDS).order_by(publishable_keys.c.created_at)
    return [record_from(StoredKey, r) for r in conn.execute(query)]


def active_by_hash(conn: Connection, key_hash: str) -> StoredKey | None:
    row = conn.execute(
        select(*_FIELDS).where(
            publishable_keys.c.key_hash == key_hash, publishable_keys.c.revoked_at.is_(None)
        )
    ).first()
    return record_from(StoredKey, row) if row is not None else None
