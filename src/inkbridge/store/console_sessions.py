"""Console session rows: inserted and looked up by the hash of the opaque session id, deleted
at sign-out or once expired. The rules (lifetime, scopes, audit) live in
``services.console_sessions``."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select

from inkbridge.store.records import columns_of, record_from
from inkbridge.store.schema import console_sessions


@dataclass(frozen=True)
class StoredSession:
    """A session as stored: who it is, what it may do, its CSRF token and its expiry."""

    actor: str
    name: str
    scopes: list[str]
    token_id: str | None
    csrf_token: str
    created_at: datetime
    expires_at: datetime


def insert(conn: Connection, id_hash: str, session: StoredSession) -> None:
    conn.execute(console_sessions.insert().values(id_hash=id_hash, **asdict(session)))


def find(conn: Connection, id_hash: str, now: datetime) -> StoredSession | None:
    """The unexpired session with this id hash, or None."""
    row = conn.execute(
        select(*columns_of(console_sessions, StoredSession)).where(
            console_sessions.c.id_hash == id_hash, console_sessions.c.expires_at > now
        )
    ).first()
    return record_from(StoredSession, row) if row is not None else None


def remove(conn: Connection, id_hash: str) -> bool:
    return (
        conn.execute(delete(console_sessions).where(console_sessions.c.id_hash == id_hash)).rowcount
        > 0
    )


def remove_expired(conn: Connection, now: datetime) -> int:
    """Drop sessions past their expiry (each sign-in sweeps, so the table stays small)."""
    return conn.execute(
        delete(console_sessions).where(console_sessions.c.expires_at <= now)
    ).rowcount
