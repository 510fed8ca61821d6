"""When the server first saw each anonymous visitor id (``anonymous_visitors``): written once,
by the first touch that names it, and never changed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from inkbridge.store.schema import anonymous_visitors

_INSERT_IF_ABSENT = {
    "postgresql": postgresql.insert(anonymous_visitors).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(anonymous_visitors).on_conflict_do_nothing(),
}


def first_seen_at(conn: Connection, anonymous_id: str) -> datetime | None:
    """When ``anonymous_id`` was first seen, or None if never."""
    seen: datetime | None = conn.execute(
        select(anonymous_visitors.c.first_seen_at).where(
            anonymous_visitors.c.anonymous_id == anonymous_id
        )
    ).scalar_one_or_none()
    return seen


def seen(conn: Connection, anonymous_id: str, at: datetime) -> datetime:
    """Record that ``anonymous_id`` was seen ``at`` unless it was seen before (a concurrent first
    sighting loses quietly); returns the first sighting."""
    conn.execute(
        _INSERT_IF_ABSENT[conn.dialect.name], {"anonymous_id": anonymous_id, "first_seen_at": at}
    )
    first = first_seen_at(conn, anonymous_id)
    assert first is not None  # inserted just now, or by whoever got there first
    return first
