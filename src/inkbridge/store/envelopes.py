"""Envelopes and their recipients: lookups, and state writes as compare-and-set on ``version``,
with the report columns (milestones, first touch, time-to-sign intervals) kept in step. The
metadata, the first touch's URLs and the recipients' emails and names are sealed under the
envelope's subject (its lead, or the envelope itself while it has none)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from inkbridge.domain.intervals import INTERVAL_COLUMNS, interval_columns
from inkbridge.domain.lifecycle import MILESTONES, EnvelopeSnapshot, EnvelopeState, RecipientState
from inkbridge.store import attribution_journeys, sealed_fields
from inkbridge.store.driver_statements import DriverRow, DriverStatement, insert_if_absent
from inkbridge.store.schema import envelopes, recipients
from inkbridge.store.set_once import set_once
from inkbridge.store.transaction_memo import memo_of

# The worker's statements, built once and run on the driver's cursor (``driver_statements``,
# bench/README.md): rows come back as ``DriverRow`` tuples, read by column name.
_GET = DriverStatement(select(envelopes).where(envelopes.c.id == bindparam("envelope_id")))
_BY_PROVIDER_REF = DriverStatement(
    select(envelopes).where(
        envelopes.c.connection == bindparam("connection"),
        envelopes.c.provider_envelope_id == bindparam("provider_envelope_id"),
    )
)
_RECIPIENTS = DriverStatement(
    select(recipients)
    .where(recipients.c.envelope_id == bindparam("envelope_id"))
    .order_by(recipients.c.recipient_id)
)
_UPSERT_RECIPIENT = {
    name: DriverStatement(
        dialect.insert(recipients)
        .values(
            envelope_id=bindparam("r_envelope_id"),
            recipient_id=bindparam("r_recipient_id"),
            status=bindparam("r_status"),
            updated_at=bindparam("r_updated_at"),
            email=bindparam("r_email"),
        )
        .on_conflict_do_update(
            index_elements=["envelope_id", "recipient_id"],
            set_={"status": bindparam("r_status"), "updated_at": bindparam("r_updated_at")},
        )
    )
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}

# RETURNING hands the worker the row it tracked without reading it back.


def get(conn: Connection, envelope_id: str) -> Row[Any] | None:
    row: Row[Any] | None = _GET.first(conn, {"envelope_id": envelope_id})
    return row


def find_by_provider_ref(
    conn: Connection, connection: str, provider_envelope_id: str
) -> Row[Any] | None:
    """The envelope by its vendor reference. In a transaction memo (a worker's batch) a row
    once read is kept, current with the batch's own writes (``save_snapshot``)."""
    memo = memo_of(conn)
    key = ("envelope", connection, provider_envelope_id)
    if memo is not None and key in memo.state.reads:
        kept: Row[Any] | None = memo.state.reads[key]  # None: not tracked when read ahead
        return kept
    params = {"connection": connection, "provider_envelope_id": provider_envelope_id}
    row: Row[Any] | None = _BY_PROVIDER_REF.first(conn, params)
    if memo is not None and row is not None:
        memo.state.reads[key] = row
    return row


def read_ahead(conn: Connection, refs: Iterable[tuple[str, str]]) -> None:
    """Read the envelopes of ``refs`` ((connection, vendor reference) pairs) and their
    recipients into the transaction's memo (if any), one statement each."""
    memo = memo_of(conn)
    wanted = sorted(
        ref for ref in set(refs) if memo is not None and ("envelope", *ref) not in memo.state.reads
    )
    if memo is None or not wanted:
        return
    pairs = tuple_(envelopes.c.connection, envelopes.c.provider_envelope_id)
    found = conn.execute(select(envelopes).where(pairs.in_(wanted)))
    memo.state.reads.update({("envelope", *ref): None for ref in wanted})
    row_type = _BY_PROVIDER_REF.row_type(conn)
    ids: list[str] = []
    for row in found:
        key = ("envelope", row.connection, row.provider_envelope_id)
        memo.state.reads[key] = tuple.__new__(row_type, tuple(row))
        ids.append(row.id)
    if not ids:
        return
    by_envelope: dict[str, list[RecipientRow]] = {envelope_id: [] for envelope_id in ids}
    rows = conn.execute(
        select(recipients)
        .where(recipients.c.envelope_id.in_(ids))
        .order_by(recipients.c.envelope_id, recipients.c.recipient_id)
    )
    for r in rows:
        by_envelope[r.envelope_id].append(_recipient_row(conn, r))
    memo.state.reads.update({("recipients", k): tuple(v) for k, v in by_envelope.items()})


def find_by_provider_id(conn: Connection, provider_envelope_id: str) -> list[Row[Any]]:
    return list(
        conn.execute(
            select(envelopes).where(envelopes.c.provider_envelope_id == provider_envelope_id)
        )
    )


# Milestones kept as plain columns too, so reports scan columns instead of JSON: every one but
# the delivery failure, which no report reads (it stays in ``milestones`` only).
REPORT_MILESTONES = tuple(name for name in MILESTONES if name != "delivery_failed_at")


def with_report_columns(values: dict[str, Any]) -> dict[str, Any]:
    """Fill the report columns of a new envelope: the first-touch campaign fields out of
    ``attribution``, and the time-to-sign intervals from the milestone columns given and
    ``lead_created_at``, which an envelope with a lead must carry (its lead's ``created_at``)."""
    if values.get("lead_id") is not None and "lead_created_at" not in values:
        raise ValueError("an envelope with a lead needs its lead's created_at")
    attribution = values.get("attribution") or {}
    return {
        **values,
        **{k: attribution.get(k) for k in ("utm_source", "utm_medium", "utm_campaign")},
        **interval_columns(values),
    }


def _sealed(conn: Connection, values: dict[str, Any]) -> dict[str, Any]:
    subject = sealed_fields.envelope_subject(values["id"], values.get("lead_id"))
    return {
        **values,
        "metadata": sealed_fields.seal_json(
            conn, subject, "envelopes.metadata", values.get("metadata") or {}
        ),
        "attribution": sealed_fields.seal_urls(
            conn, subject, "envelopes.attribution", values.get("attribution") or {}
        ),
    }


def attribution_of(conn: Connection, row: Row[Any]) -> dict[str, Any]:
    """The envelope's copy of its lead's first touch, URLs opened."""
    return sealed_fields.open_urls(conn, "envelopes.attribution", row.attribution)


def metadata_of(conn: Connection, row: Row[Any]) -> dict[str, Any]:
    """The metadata the envelope was created or first seen with (empty once erased)."""
    return dict(sealed_fields.open_json(conn, "envelopes.metadata", row.metadata) or {})


def insert(conn: Connection, values: dict[str, Any]) -> None:
    conn.execute(envelopes.insert().values(**_sealed(conn, with_report_columns(values))))


def insert_tracked(conn: Connection, values: dict[str, Any]) -> Row[Any] | None:
    """Insert an envelope first seen in a webhook and return its row; None if another writer
    tracked it first."""
    row = _sealed(conn, with_report_columns(values))
    # Compiled once per dialect and column set (the caller's and the report columns).
    statement = insert_if_absent(
        envelopes, ("connection", "provider_envelope_id"), conn.dialect.name, tuple(row)
    )
    inserted: Row[Any] | None = statement.first(conn, row)
    memo = memo_of(conn)
    key = ("envelope", values["connection"], values["provider_envelope_id"])
    if memo is not None and inserted is None:
        memo.state.reads.pop(key, None)  # another writer's row: read it when asked
    elif memo is not None and inserted is not None:
        kept: Any = tuple.__new__(_BY_PROVIDER_REF.row_type(conn), tuple(inserted))
        memo.state.reads[key] = kept
        memo.state.reads[("recipients", values["id"])] = ()
        inserted = kept
    return inserted


def set_provider_ref(conn: Connection, envelope_id: str, provider_envelope_id: str) -> bool:
    """Record the provider's id once; False if another id was recorded first."""
    return set_once(conn, envelopes.c.provider_envelope_id, envelope_id, provider_envelope_id)


@dataclass(frozen=True)
class RecipientRow:
    """A recipient as stored, with its email and name opened."""

    envelope_id: str
    recipient_id: str
    email: str | None
    name: str | None
    status: str
    updated_at: datetime


def _recipient_row(conn: Connection, r: Any) -> RecipientRow:
    return RecipientRow(
        envelope_id=r.envelope_id,
        recipient_id=r.recipient_id,
        email=sealed_fields.open_text(conn, "recipients.email", r.email),
        name=sealed_fields.open_text(conn, "recipients.name", r.name),
        status=r.status,
        updated_at=r.updated_at,
    )


def recipient_rows(conn: Connection, envelope_id: str) -> list[RecipientRow]:
    """An envelope's recipients by recipient id (kept in a transaction memo, as envelopes are
    by ``find_by_provider_ref``, current with ``upsert_recipient``)."""
    memo = memo_of(conn)
    key = ("recipients", envelope_id)
    if memo is not None and key in memo.state.reads:
        return list(memo.state.reads[key])
    found = [_recipient_row(conn, r) for r in _RECIPIENTS.rows(conn, {"envelope_id": envelope_id})]
    if memo is not None:
        memo.state.reads[key] = tuple(found)
    return found


def insert_recipient(
    conn: Connection,
    envelope: dict[str, Any],
    recipient_id: str,
    *,
    email: str | None,
    name: str | None,
    status: str,
    now: datetime,
) -> None:
    """Add a recipient to a new envelope (``envelope`` has its id and lead_id)."""
    subject = sealed_fields.envelope_subject(envelope["id"], envelope.get("lead_id"))
    conn.execute(
        recipients.insert().values(
            envelope_id=envelope["id"],
            recipient_id=recipient_id,
            email=sealed_fields.seal_text(conn, subject, "recipients.email", email),
            name=sealed_fields.seal_text(conn, subject, "recipients.name", name),
            status=status,
            updated_at=now,
        )
    )


def snapshot_of(row: Row[Any], recipient_list: list[RecipientRow]) -> EnvelopeSnapshot:
    return snapshot_from(row, {r.recipient_id: r.status for r in recipient_list})


def snapshot_from(row: Row[Any], statuses: Mapping[str, str]) -> EnvelopeSnapshot:
    """The snapshot an envelope row holds, with its recipients' statuses by recipient id."""
    return EnvelopeSnapshot(
        envelope_id=row.id,
        state=EnvelopeState(row.state),
        milestones={k: datetime.fromisoformat(v) for k, v in (row.milestones or {}).items()},
        recipients={recipient: RecipientState(status) for recipient, status in statuses.items()},
        delivery_failed=bool(row.delivery_failed),
        conflicts=frozenset(EnvelopeState(c) for c in (row.conflicts or [])),
    )


def save_snapshot(
    conn: Connection,
    snapshot: EnvelopeSnapshot,
    *,
    current: Row[Any],
    now: datetime,
    needs_reconcile: bool | None = None,
) -> bool:
    """Write the state over ``current``, the envelope row it was derived from, as a
    compare-and-set on its version; False means another writer got there first.

    The intervals are recomputed from the milestones and the row's ``lead_created_at`` on every
    write; ``current`` is also what the stored attribution journey is compared against (when
    the write succeeds, it is exactly the row replaced)."""
    expected_version = int(current.version)
    values: dict[str, Any] = {
        "state": snapshot.state.value,
        "milestones": {k: v.isoformat() for k, v in sorted(snapshot.milestones.items())},
        **{name: snapshot.milestones.get(name) for name in REPORT_MILESTONES},
        **interval_columns({**snapshot.milestones, "lead_created_at": current.lead_created_at}),
        "delivery_failed": snapshot.delivery_failed,
        "conflicts": sorted(c.value for c in snapshot.conflicts),
        "version": expected_version + 1,
        "updated_at": now,
    }
    values["b_id"] = snapshot.envelope_id
    values["b_version"] = expected_version
    if needs_reconcile is None:
        saved = bool(_SAVE.rowcount(conn, values))
    else:
        values["needs_reconcile"] = needs_reconcile
        saved = bool(_SAVE_FLAGGED.rowcount(conn, values))
    if saved:
        _keep_saved(conn, current, values)
    if saved and _changes_journey(current, snapshot):
        attribution_journeys.refresh_envelopes(conn, [snapshot.envelope_id])
    return saved


def _keep_saved(conn: Connection, current: Row[Any], values: dict[str, Any]) -> None:
    """The row a memo keeps, as the successful compare-and-set left it (timestamps in UTC, as
    the columns read them back)."""
    memo = memo_of(conn)
    if memo is None or not memo.state.reads:
        return
    if not isinstance(current, DriverRow):  # a row read elsewhere: read them all again
        memo.state.reads.clear()
        return
    key = ("envelope", current.connection, current.provider_envelope_id)
    if key in memo.state.reads:
        changed = {
            name: value.astimezone(UTC) if isinstance(value, datetime) else value
            for name, value in values.items()
            if not name.startswith("b_")
        }
        memo.state.reads[key] = current._replace(**changed)


def _changes_journey(before: Row[Any], snapshot: EnvelopeSnapshot) -> bool:
    """A conversion (an envelope with a lead, completed before or after) got or changed
    ``completed_at`` or ``sent_at``."""
    completed = snapshot.milestones.get("completed_at")
    if before.lead_id is None:
        return False
    if before.completed_at is None and completed is None:
        return False
    return (before.sent_at, before.completed_at) != (snapshot.milestones.get("sent_at"), completed)


# The compare-and-set, built once (bound parameters are prefixed b_ where they name a column).
_SAVE_COLUMNS = (
    "state",
    "milestones",
    "delivery_failed",
    "conflicts",
    "version",
    "updated_at",
    *REPORT_MILESTONES,
    *INTERVAL_COLUMNS,
)
_SAVE_UPDATE = (
    update(envelopes)
    .where(envelopes.c.id == bindparam("b_id"), envelopes.c.version == bindparam("b_version"))
    .values({name: bindparam(name) for name in _SAVE_COLUMNS})
)
_SAVE = DriverStatement(_SAVE_UPDATE)
_SAVE_FLAGGED = DriverStatement(_SAVE_UPDATE.values(needs_reconcile=bindparam("needs_reconcile")))


def upsert_recipient(
    conn: Connection,
    envelope: Row[Any],
    recipient_id: str,
    status: RecipientState,
    now: datetime,
    email: str | None = None,
) -> None:
    """Insert the recipient or move its status; the email is kept only from the first sight
    (sealed under the envelope's subject)."""
    subject = sealed_fields.envelope_subject(envelope.id, envelope.lead_id)
    values = {
        "r_envelope_id": envelope.id,
        "r_recipient_id": recipient_id,
        "r_status": status.value,
        "r_updated_at": now,
        "r_email": sealed_fields.seal_text(conn, subject, "recipients.email", email),
    }
    _UPSERT_RECIPIENT[conn.dialect.name].rowcount(conn, values)
    memo = memo_of(conn)
    key = ("recipients", envelope.id)
    if memo is None or key not in memo.state.reads:
        return
    # As the upsert left them: a known recipient keeps its email; a new one has the one given
    # (None when its subject was shredded: nothing was stored).
    kept = {r.recipient_id: r for r in memo.state.reads[key]}
    known = kept.get(recipient_id)
    moment = now.astimezone(UTC)
    if known is not None:
        kept[recipient_id] = replace(known, status=status.value, updated_at=moment)
    else:
        stored = values["r_email"]
        kept[recipient_id] = RecipientRow(
            envelope.id, recipient_id, email if stored else stored, None, status.value, moment
        )
    memo.state.reads[key] = tuple(kept[name] for name in sorted(kept))


def list_ids(conn: Connection) -> list[str]:
    return [r[0] for r in conn.execute(select(envelopes.c.id).order_by(envelopes.c.created_at))]
