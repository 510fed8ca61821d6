"""API token rows: inserted with the secret's hash only, looked up by hash, retired or revoked
by guarded updates. The rules (scopes, lifetimes, audit) live in ``services.tokens``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, or_, select, update

from inkbridge.store.records import columns_of, record_from
from inkbridge.store.schema import api_tokens
from inkbridge.store.set_once import set_once


@dataclass(frozen=True)
class StoredToken:
    """One token as stored: never the secret, only what identifies and limits it."""

    id: str
    name: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None = None
    rotated_to: str | None = None
    revoked_at: datetime | None = None


# The columns a StoredToken is read from: they carry its field names (never the hash).
_FIELDS = columns_of(api_tokens, StoredToken)


def _tokens(query: Select[Any], conn: Connection) -> list[StoredToken]:
    return [record_from(StoredToken, r) for r in conn.execute(query)]


def insert(conn: Connection, token: StoredToken, *, token_hash: str) -> None:
    conn.execute(api_tokens.insert().values(**asdict(token), token_hash=token_hash))


def unrevoked(conn: Connection) -> list[StoredToken]:
    return _tokens(select(*_FIELDS).where(api_tokens.c.revoked_at.is_(None)), conn)


def unrevoked_by_hash(conn: Connection, token_hash: str) -> StoredToken | None:
    query = select(*_FIELDS).where(
        api_tokens.c.token_hash == token_hash, api_tokens.c.revoked_at.is_(None)
    )
    return next(iter(_tokens(query, conn)), None)


def find(conn: Connection, token_id: str) -> StoredToken | None:
    return next(iter(_tokens(select(*_FIELDS).where(api_tokens.c.id == token_id), conn)), None)


def all_tokens(conn: Connection) -> list[StoredToken]:
    """Every token, revoked and expired ones included, oldest first."""
    return _tokens(select(*_FIELDS).order_by(api_tokens.c.created_at), conn)


def touch(conn: Connection, token_id: str, *, moment: datetime, unless_since: datetime) -> None:
    """Set the last use to ``moment`` unless it is already later than ``unless_since``: guarded,
    so concurrent requests (or processes) refresh it once per window."""
    conn.execute(
        update(api_tokens)
        .where(
            api_tokens.c.id == token_id,
            or_(api_tokens.c.last_used_at.is_(None), api_tokens.c.last_used_at <= unless_since),
        )
        .values(last_used_at=moment)
    )


def retire(conn: Connection, token_id: str, *, expires_at: datetime, successor: str) -> None:
    """Record a rotation: the token stops working at ``expires_at`` and names its successor."""
    conn.execute(
        update(api_tokens)
        .where(api_tokens.c.id == token_id)
        .values(expires_at=expires_at, rotated_to=successor)
    )


def revoke(conn: Connection, token_id: str, now: datetime) -> bool:
    """Revoke a token unless it already is; True when this call revoked it."""
    return set_once(conn, api_tokens.c.revoked_at, token_id, now)
