"""A destination's request budget shared by every worker process: one row per destination, a
token bucket and the vendor's pause, read and written under a row lock (``SELECT … FOR UPDATE``
on PostgreSQL; SQLite's write transactions begin ``IMMEDIATE``), so two processes never spend
the same token. Times are the database server's on PostgreSQL, so workers on several hosts share
one clock; SQLite's workers share a host, and its clock."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from inkbridge.domain.delivery_policy import TokenBucket
from inkbridge.store.schema import destination_quota

_INSERTS = {
    "postgresql": postgresql.insert(destination_quota).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(destination_quota).on_conflict_do_nothing(),
}


def database_now(conn: Connection) -> datetime:
    """The time every process reads alike: the PostgreSQL server's, else this host's."""
    if conn.dialect.name == "postgresql":
        moment = conn.execute(select(func.clock_timestamp())).scalar_one()
        assert isinstance(moment, datetime)
        return moment.astimezone(UTC)
    return datetime.now(UTC)


def _locked_bucket(
    conn: Connection, destination: str, rate: float, burst: float, now: datetime
) -> TokenBucket:
    """The destination's bucket, its row locked until the transaction ends (created full)."""
    conn.execute(
        _INSERTS[conn.dialect.name],
        {"destination": destination, "tokens": burst, "refilled_at": now, "paused_until": None},
    )
    row = conn.execute(
        select(
            destination_quota.c.tokens,
            destination_quota.c.refilled_at,
            destination_quota.c.paused_until,
        )
        .where(destination_quota.c.destination == destination)
        .with_for_update()
    ).one()
    paused = row.paused_until.timestamp() if row.paused_until is not None else 0.0
    return TokenBucket(
        rate=rate,
        burst=burst,
        tokens=max(0.0, float(row.tokens)),
        updated_at=row.refilled_at.timestamp(),
        paused_until=paused,
    )


def _save(conn: Connection, destination: str, bucket: TokenBucket) -> None:
    conn.execute(
        update(destination_quota)
        .where(destination_quota.c.destination == destination)
        .values(
            tokens=bucket.tokens,
            refilled_at=datetime.fromtimestamp(bucket.updated_at, UTC),
            paused_until=(
                datetime.fromtimestamp(bucket.paused_until, UTC) if bucket.paused_until else None
            ),
        )
    )


def take(conn: Connection, destination: str, *, rate: float, burst: float) -> float:
    """Spend one request of the destination's budget: 0.0 when spent, else the seconds until
    one may be (the row is left as it was)."""
    now = database_now(conn)
    bucket = _locked_bucket(conn, destination, rate, burst, now)
    moment = now.timestamp()
    if not bucket.take(moment):
        return max(bucket.wait_time(moment), 0.001)
    _save(conn, destination, bucket)
    return 0.0


def pause(conn: Connection, destination: str, *, rate: float, burst: float, seconds: float) -> None:
    """The vendor asked every client to wait ``seconds`` (a 429's ``Retry-After``, a spent
    window): no process takes a token before then."""
    now = database_now(conn)
    bucket = _locked_bucket(conn, destination, rate, burst, now)
    bucket.pause(now.timestamp(), seconds)
    _save(conn, destination, bucket)
