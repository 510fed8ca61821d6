"""Claiming outbox rows for delivery: the oldest due change of each record, head of record
first, found and leased in one statement on PostgreSQL (two on SQLite) whatever the backlog's
size.

The head query is a keyset walk over ``ix_outbox_live`` (a destination's live rows in id order)
that stops after ``limit`` heads; each candidate is kept when ``ix_outbox_live_record`` holds no
older live row of its record. Settled history is in neither index, so a claim reads the front of
the backlog only. The plan must not depend on statistics (a burst fills the table long before
anything runs ANALYZE, and until then the planner takes the live rows for a few): on PostgreSQL
``OFFSET 0`` keeps each per-row or per-record check an index probe, which the planner may not
turn into a join over the whole backlog (the plan that made a claim's cost grow with the square
of the backlog), and the ``ORDER BY`` is the index's own.

Every text below is built from constants of this module and the schema, never from input; the
live predicate is repeated word for word because SQLite uses a partial index only for a query
whose WHERE contains the index's predicate.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, Executable, String, bindparam, column, text, update

from inkbridge.domain.queue_states import OUTBOX_LIVE, OutboxStatus
from inkbridge.store.column_types import UTCDateTime
from inkbridge.store.outbox import OutboxRow, outbox_row
from inkbridge.store.schema import outbox, outbox_live_rows

_PENDING, _INFLIGHT = OutboxStatus.PENDING.value, OutboxStatus.INFLIGHT.value
_POSTGRES = "postgresql"


def head_query(dialect: str) -> str:
    """The oldest due live row of up to ``:limit`` records of ``:destination``, in id order."""
    on_postgres = dialect == _POSTGRES
    return f"""
SELECT o.id, o.record_key, o.status FROM outbox o
WHERE o.destination = :destination
  AND {outbox_live_rows("o")}
  AND ((o.status = '{_PENDING}' AND o.next_attempt_at <= :now)
       OR (o.status = '{_INFLIGHT}' AND o.lease_until < :now))
  AND NOT EXISTS (
      SELECT 1 FROM outbox p
      WHERE p.destination = o.destination AND p.record_key = o.record_key
        AND p.id < o.id AND {outbox_live_rows("p")}
      {"OFFSET 0" if on_postgres else ""})
ORDER BY o.id
LIMIT :limit
{"FOR UPDATE OF o SKIP LOCKED" if on_postgres else ""}"""  # noqa: S608


# The later live rows of a head's record: pending ones, and ones a dead worker had leased
# together with the head (they were coalesced with it, so they travel with it again).
_LATER_ROWS = f"""r.destination = :destination AND r.record_key = h.record_key AND r.id > h.id
  AND {outbox_live_rows("r")} AND (r.status = '{_PENDING}' OR r.lease_until < :now)"""
_LATER = {
    _POSTGRES: f"""
  UNION ALL
  SELECT l.id, l.status FROM heads h
  CROSS JOIN LATERAL (SELECT r.id, r.status FROM outbox r WHERE {_LATER_ROWS} OFFSET 0) l""",  # noqa: S608
    "sqlite": f"""
  UNION ALL
  SELECT r.id, r.status FROM heads h JOIN outbox r ON {_LATER_ROWS}""",  # noqa: S608
}


def _claimed_sql(dialect: str, whole_records: bool) -> str:
    """``claimed``: the heads and, with ``whole_records``, the later rows of their records,
    each with the status it had (an in-flight one had an expired lease)."""
    later = _LATER[dialect] if whole_records else ""
    return f"""WITH heads AS MATERIALIZED ({head_query(dialect)}),
claimed AS MATERIALIZED (SELECT id, status FROM heads{later})"""  # noqa: S608


# On PostgreSQL the lease is part of the statement: one round trip per claim. The guard is
# "still in the state it was claimed in" (a live one), written so that no partial index can
# serve it: the update must be driven by the few claimed rows (primary-key lookups), and a
# planner that takes the live rows for a handful would rather join them all to every row.
_LEASE = f"""
UPDATE outbox u SET status = '{_INFLIGHT}', lease_until = :lease
FROM claimed c
WHERE u.id = c.id AND u.status = c.status
RETURNING {", ".join(f"u.{name}" for name in outbox.c.keys())}, c.status AS claimed_status"""  # noqa: S608, SIM118


def _statement(dialect: str, whole_records: bool) -> Executable:
    sql = _claimed_sql(dialect, whole_records)
    now = bindparam("now", type_=UTCDateTime())
    if dialect == _POSTGRES:
        leasing = text(sql + _LEASE).bindparams(now, bindparam("lease", type_=UTCDateTime()))
        return leasing.columns(*outbox.c, column("claimed_status", String))
    return text(sql + "\nSELECT id, status AS claimed_status FROM claimed").bindparams(now)


# SQLite's lease of the claimed rows (see ``claim``).
_SQLITE_LEASE = (
    update(outbox)
    .where(outbox.c.id.in_(bindparam("ids", expanding=True)), outbox.c.status.in_(OUTBOX_LIVE))
    .values(
        status=OutboxStatus.INFLIGHT,
        lease_until=bindparam("lease", type_=outbox.c.lease_until.type),
    )
    .returning(*outbox.c)
)

_STATEMENTS = {
    (dialect, whole): _statement(dialect, whole)
    for dialect in (_POSTGRES, "sqlite")
    for whole in (False, True)
}


def claim(
    conn: Connection,
    *,
    destination: str,
    limit: int,
    lease_seconds: float,
    now: datetime,
    whole_records: bool,
) -> list[OutboxRow]:
    """Lease the oldest due change of up to ``limit`` records (plus, with ``whole_records``, every
    later pending change of those records, for coalescing). Skips rows other workers hold."""
    dialect = conn.dialect.name
    lease = now + timedelta(seconds=lease_seconds)
    params = {"destination": destination, "now": now, "limit": limit, "lease": lease}
    found = conn.execute(_STATEMENTS[(dialect, whole_records)], params).all()
    claimed = {int(r.id): r.claimed_status for r in found}
    if dialect != _POSTGRES and claimed:
        # SQLite's RETURNING may not name the FROM side: the lease is a second statement (in
        # the same BEGIN IMMEDIATE transaction, so nothing moved in between).
        found = conn.execute(_SQLITE_LEASE, {"ids": list(claimed), "lease": lease}).all()
    return [
        outbox_row(conn, r, lease_expired=claimed[int(r.id)] == _INFLIGHT)
        for r in sorted(found, key=lambda r: int(r.id))
    ]
