"""``journey_touches``: each conversion's assembled journey, kept at write time so that the
attribution report is one scan.

Owns the table's rows. They are derived from envelopes, leads and touchpoints by the one
statement of ``inkbridge.store.journey_assembly``, for one stitching window,
``STORED_STITCH_WINDOW`` (the default); a report asked for another window assembles journeys
at query time instead. The rows of a conversion are replaced (deleted, then inserted by that
statement restricted to it) in the same transaction as any change that can alter its journey:

- an envelope with a lead gets, changes or loses ``completed_at``, or changes ``sent_at`` once
  completed (``store.envelopes.save_snapshot``, the only writer of envelope milestones);
- a touchpoint is recorded against a lead, or unlinked with an anonymous id that leads carry
  (``services.leads``: capture and the public touch endpoint; ``lock_owners`` before the
  insert, ``refresh_leads`` after it).

Leads' created moment, anonymous id and frozen first touch, and an envelope's lead, template
and first-touch campaign never change once written. ``rebuild`` refills the whole table (after
loading rows by other means); ``ensure_built`` is the backfill of a database that had
conversions before the table existed, run by ``inkbridge.store.migrate`` once the schema is at
head (the migration itself only creates the table, so it never runs code written for a later
schema).

On PostgreSQL, a touch and a completion of the same lead's envelope must not each refresh
the journey without the other's change. Recording touches first locks the leads they belong to
``FOR UPDATE``, before anything else; refreshing an envelope's journey takes ``FOR KEY SHARE``
on its lead (as inserting an envelope for the lead already does), which conflicts with nothing
but that. Whichever comes second waits for the first to commit and then sees its change; the
worker never waits on a lead for anything else (no deadlock with its chain heads). SQLite has
one writer anyway.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from functools import cache
from typing import Any

from sqlalchemy import BindParameter, ColumnElement, Connection, Insert, bindparam, select

from inkbridge.domain.attribution_models import DEFAULT_STITCH_WINDOW
from inkbridge.store.journey_assembly import conversions, journey_rows
from inkbridge.store.schema import envelopes, journey_touches, leads

# The stitching window the stored journeys were assembled with.
STORED_STITCH_WINDOW = DEFAULT_STITCH_WINDOW


def _insert(conditions: Sequence[ColumnElement[bool]], dialect: str) -> Insert:
    conv = conversions(conditions, window=STORED_STITCH_WINDOW, dialect=dialect, carry=True)
    rows = journey_rows(conv, dialect=dialect, carry=True)
    names = [column.name for column in rows.selected_columns]
    return journey_touches.insert().from_select(names, rows)


def rebuild(conn: Connection) -> None:
    """Replace every stored journey with one assembled from the current rows (the backfill)."""
    conn.execute(journey_touches.delete())
    conn.execute(_insert([], conn.dialect.name))


_ANY_JOURNEY = select(journey_touches.c.envelope_id).limit(1)
_ANY_CONVERSION = (
    select(envelopes.c.id)
    .where(envelopes.c.completed_at.is_not(None), envelopes.c.lead_id.is_not(None))
    .limit(1)
)


def ensure_built(conn: Connection) -> bool:
    """Fill the table when it is empty although conversions exist: a database upgraded from
    before the table existed (every write path keeps it whole after that). Run once the schema
    is at head, so the statement of the current code reads the schema it was written for;
    returns whether it rebuilt."""
    if conn.execute(_ANY_JOURNEY).first() is not None:
        return False
    if conn.execute(_ANY_CONVERSION).first() is None:
        return False
    rebuild(conn)
    return True


# The write-time statements, built once (building the insert costs more than running it for
# one conversion); ``ids`` and ``id`` are bound per call.
_IDS: BindParameter[Any] = bindparam("ids", expanding=True)


@cache
def _insert_for(dialect: str) -> Insert:
    return _insert([envelopes.c.id.in_(_IDS)], dialect)


_DELETE_FOR = journey_touches.delete().where(journey_touches.c.envelope_id.in_(_IDS))
_LEADS_OF_ENVELOPES = select(envelopes.c.lead_id).where(
    envelopes.c.id.in_(_IDS), envelopes.c.lead_id.is_not(None)
)
_ENVELOPES_OF_LEADS = select(envelopes.c.id).where(envelopes.c.lead_id.in_(_IDS))
_LEADS_OF_BROWSER = select(leads.c.id).where(leads.c.anonymous_id == bindparam("id"))
_LEADS = select(leads.c.id).where(leads.c.id.in_(_IDS)).order_by(leads.c.id)
_LOCK_LEADS = _LEADS.with_for_update()
_SHARE_LEADS = _LEADS.with_for_update(read=True, key_share=True)  # FOR KEY SHARE


def _replace(conn: Connection, envelope_ids: Collection[str]) -> None:
    if not envelope_ids:
        return
    ids = {"ids": sorted(envelope_ids)}
    conn.execute(_DELETE_FOR, ids)
    # Envelopes that are not (or no longer) conversions insert nothing.
    conn.execute(_insert_for(conn.dialect.name), ids)


def refresh_envelopes(conn: Connection, envelope_ids: Collection[str]) -> None:
    """Re-assemble the journeys of these envelopes, after a change of their milestones."""
    if not envelope_ids:
        return
    lead_ids = set(conn.execute(_LEADS_OF_ENVELOPES, {"ids": sorted(envelope_ids)}).scalars())
    if lead_ids and conn.dialect.name == "postgresql":
        conn.execute(_SHARE_LEADS, {"ids": sorted(lead_ids)}).all()
    _replace(conn, envelope_ids)


def lock_owners(conn: Connection, lead_id: str | None, anonymous_id: str | None) -> list[str]:
    """The leads whose journeys touches recorded against ``lead_id``, or unlinked with
    ``anonymous_id``, can join (an unlinked touch stitches to every lead carrying its anonymous
    id); on PostgreSQL locked until the transaction ends. Call it before inserting them."""
    if lead_id is not None:
        owners = [lead_id]
    elif anonymous_id:
        owners = list(conn.execute(_LEADS_OF_BROWSER, {"id": anonymous_id}).scalars())
    else:
        return []
    if owners and conn.dialect.name == "postgresql":
        conn.execute(_LOCK_LEADS, {"ids": sorted(owners)}).all()
    return owners


def refresh_leads(conn: Connection, lead_ids: Collection[str]) -> None:
    """Re-assemble the journeys of every conversion of these leads (locked by
    ``lock_owners``)."""
    if not lead_ids:
        return
    found = conn.execute(_ENVELOPES_OF_LEADS, {"ids": sorted(lead_ids)}).scalars()
    _replace(conn, list(found))
