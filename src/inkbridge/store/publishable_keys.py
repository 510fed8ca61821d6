"""Publishable key rows: inserted with the key's hash only, looked up by hash, revoked by a
guarded update. The rules (origins, rates, audit) live in ``services.publishable_keys``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from inkbridge.store.schema import publishable_keys


@dataclass(frozen=True)
class StoredKey:
    """One publishable key as stored: never the key, only what identifies and limits it."""

    id: str
    name: str
    origins: tuple[str, ...]
    region: str | None
    rate_per_minute: int | None
    created_at: datetime
    revoked_at: datetime | None


def _key(row: Any) -> StoredKey:
    return StoredKey(
        id=row.id,
        name=row.name,
        origins=tuple(row.origins),
        region=row.region,
        rate_per_minute=row.rate_per_minute,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def insert(
    conn: Connection,
    *,
    key_id: str,
    name: str,
    key_hash: str,
    origins: list[str],
    region: str | None,
    rate_per_minute: int | None,
    now: datetime,
) -> None:
    conn.execute(
        publishable_keys.insert().values(
            id=key_id,
            name=name,
            key_hash=key_hash,
            origins=origins,
            region=region,
            rate_per_minute=rate_per_minute,
            created_at=now,
        )
    )


def revoke(conn: Connection, key_id: str, now: datetime) -> bool:
    """Revoke a key unless it already is; True when this call revoked it."""
    result = conn.execute(
        update(publishable_keys)
        .where(publishable_keys.c.id == key_id, publishable_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return bool(result.rowcount)


def all_keys(conn: Connection) -> list[StoredKey]:
    """Every key, revoked ones included, oldest first."""
    query = select(publishable_keys).order_by(publishable_keys.c.created_at)
    return [_key(r) for r in conn.execute(query)]


def active_by_hash(conn: Connection, key_hash: str) -> StoredKey | None:
    row = conn.execute(
        select(publishable_keys).where(
            publishable_keys.c.key_hash == key_hash, publishable_keys.c.revoked_at.is_(None)
        )
    ).first()
    return _key(row) if row is not None else None
