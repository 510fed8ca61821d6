"""Inserting inbox receipts: one receipt row per (connection, dedup key), many rows per
statement, in the caller's transaction. The group-commit writer (``receipt_writer``) calls these
for webhooks; reconciliation and CRM triggers call them in their own transactions.

This is the benchmarked hot path: a batch is one multi-row INSERT … ON CONFLICT DO NOTHING
(through the driver's own cursor on SQLite, through SQLAlchemy elsewhere), plus lookups for the
keys that were already stored. Each body and its headers are sealed here (``receipt_bodies``),
in the caller's thread: the group-commit writer's, never the event loop.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Connection, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite

from inkbridge.domain.queue_states import ReceiptStatus
from inkbridge.privacy.keyring import Keyring
from inkbridge.store import receipt_bodies, work_signals
from inkbridge.store.schema import webhook_receipts
from inkbridge.store.sealed_fields import keyring_of

ReceiptSource = Literal["webhook", "reconcile", "trigger"]
Outcome = tuple[int, bool]  # (receipt id, inserted by this call?)


@dataclass(frozen=True, slots=True)
class ReceiptRow:
    """One delivery as the inbox stores it. ``headers`` are already redacted."""

    region: str
    connection: str
    dedup_key: str
    source: ReceiptSource
    content_type: str | None
    headers: dict[str, str]
    body: bytes
    received_at: datetime
    correlation_id: str | None = None


# The plain string, not the enum member: drivers take it as is, on the hot path.
_PENDING = ReceiptStatus.PENDING.value
_Key = tuple[str, str]  # (connection, dedup key): what makes a receipt unique


@functools.cache
def _insert_statement(dialect: str) -> Any:
    """The INSERT … ON CONFLICT DO NOTHING RETURNING statement, built once per dialect.

    Built without values and executed with parameter dicts, so SQLAlchemy compiles it once
    and reuses it; building ``.values(...)`` per row measured ten times the CPU per receipt.
    """
    # Both dialects spell ON CONFLICT the same way but through their own insert constructs.
    if dialect == "postgresql":
        insert: Any = postgresql.insert
    elif dialect == "sqlite":
        insert = sqlite.insert
    else:
        raise NotImplementedError(f"the inbox supports SQLite and PostgreSQL, not {dialect!r}")
    columns = webhook_receipts.c
    return (
        insert(webhook_receipts)
        .on_conflict_do_nothing(index_elements=[columns.connection, columns.dedup_key])
        .returning(columns.id, columns.connection, columns.dedup_key)
    )


def _sealed(keyring: Keyring, row: ReceiptRow) -> receipt_bodies.SealedReceipt:
    return receipt_bodies.seal(keyring, row.connection, row.dedup_key, row.headers, row.body)


def _parameters(keyring: Keyring, row: ReceiptRow) -> dict[str, Any]:
    sealed = _sealed(keyring, row)
    return {
        "region": row.region,
        "connection": row.connection,
        "dedup_key": row.dedup_key,
        "source": row.source,
        "content_type": row.content_type,
        "headers": sealed.headers,
        "body": sealed.body,
        "body_key": sealed.body_key,
        "body_kek_id": sealed.body_kek_id,
        "received_at": row.received_at,
        "status": _PENDING,
        "attempts": 0,
        "correlation_id": row.correlation_id,
    }


def insert_receipt(conn: Connection, row: ReceiptRow) -> Outcome:
    """Insert ``row`` unless its (connection, dedup key) is already stored.

    Returns the receipt id and whether this call inserted it. Runs inside the caller's
    transaction.
    """
    return insert_receipts(conn, [row])[0]


def insert_receipts(conn: Connection, rows: Iterable[ReceiptRow]) -> list[Outcome]:
    """Insert several receipts in the caller's transaction; outcomes come back in row order.

    Within ``rows``, the first row of a key is the one reported as inserted; later rows of the
    same key, and rows whose key was already stored, come back with the stored id.
    """
    if conn.dialect.name == "sqlite":
        outcomes = _insert_receipts_sqlite(conn, rows)
    else:
        outcomes = _insert_receipts_batched(conn, rows)
    if any(inserted for _id, inserted in outcomes):
        # Workers wake when this commits (NOTIFY on PostgreSQL) instead of on their next poll.
        work_signals.announce(conn, "receipt")
    return outcomes


# The SQLite path writes through the driver's own cursor, one multi-row statement per commit:
# the general path spends most of its time per row building and processing parameters, and one
# statement per row would give up the GIL (and wait to get it back) once per row instead of once
# per commit (measured in bench/README.md). Values are stored exactly as the column types would
# store them: UTC text timestamps, JSON headers.
_SQLITE_COLUMNS = (
    "region, connection, dedup_key, source, content_type, headers, body, body_key,"
    " body_kek_id, received_at, status, attempts, correlation_id"
)
_SQLITE_VALUES = f"(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{_PENDING}', 0, ?)"
# SQLite allows 32,766 variables per statement; 11 per row.
_SQLITE_MAX_ROWS = 1000


@functools.cache
def _sqlite_insert(rows: int) -> str:
    # Only constants and placeholders go into the text; every value is a bound parameter.
    values = ", ".join([_SQLITE_VALUES] * rows)
    return (
        f"INSERT INTO webhook_receipts ({_SQLITE_COLUMNS}) VALUES {values}"  # noqa: S608
        " ON CONFLICT (connection, dedup_key) DO NOTHING RETURNING id, connection, dedup_key"
    )


_SQLITE_FIND = "SELECT id FROM webhook_receipts WHERE connection = ? AND dedup_key = ?"


def _sqlite_time(moment: datetime) -> str:
    """``YYYY-MM-DD HH:MM:SS.ffffff`` in UTC, as the timestamp columns store it on SQLite."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    return moment.replace(tzinfo=None).isoformat(" ", "microseconds")


def _insert_receipts_sqlite(conn: Connection, rows: Iterable[ReceiptRow]) -> list[Outcome]:
    rows = list(rows)
    first_of: dict[_Key, ReceiptRow] = {}
    for row in rows:
        first_of.setdefault((row.connection, row.dedup_key), row)
    unique = list(first_of.values())
    inserted: dict[_Key, int] = {}
    stored: dict[_Key, int] = {}
    keyring = keyring_of(conn)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        for start in range(0, len(unique), _SQLITE_MAX_ROWS):
            chunk = unique[start : start + _SQLITE_MAX_ROWS]
            parameters: list[Any] = []
            for row in chunk:
                sealed = _sealed(keyring, row)
                parameters += (
                    row.region,
                    row.connection,
                    row.dedup_key,
                    row.source,
                    row.content_type,
                    json.dumps(sealed.headers),
                    sealed.body,
                    sealed.body_key,
                    sealed.body_kek_id,
                    _sqlite_time(row.received_at),
                    row.correlation_id,
                )
            cursor.execute(_sqlite_insert(len(chunk)), parameters)
            for receipt_id, connection, dedup_key in cursor.fetchall():
                inserted[(connection, dedup_key)] = int(receipt_id)
        for key in first_of:
            if key not in inserted:
                stored[key] = int(cursor.execute(_SQLITE_FIND, key).fetchone()[0])
    finally:
        cursor.close()
    return _outcomes(rows, inserted, stored)


def _outcomes(
    rows: Sequence[ReceiptRow], inserted: dict[_Key, int], stored: dict[_Key, int]
) -> list[Outcome]:
    """Each row's (id, inserted?): the first row of a key inserted by this call reports True."""
    outcomes: list[Outcome] = []
    reported: set[_Key] = set()
    for row in rows:
        key = (row.connection, row.dedup_key)
        if key in inserted:
            outcomes.append((inserted[key], key not in reported))
            reported.add(key)
        else:
            outcomes.append((stored[key], False))
    return outcomes


def _insert_receipts_batched(conn: Connection, rows: Iterable[ReceiptRow]) -> list[Outcome]:
    """The general path: SQLAlchemy, one statement for the whole batch.

    One multi-row INSERT … ON CONFLICT DO NOTHING RETURNING, then one SELECT for the keys that
    were already stored. A concurrent insert of the same key waits on the unique index
    (PostgreSQL) or the write lock (SQLite), so that SELECT always finds the winner's row.
    Keys are inserted in sorted order so two writers with overlapping keys (two processes, each
    with its own writer) take the unique-index locks in the same order and cannot deadlock.
    Within ``rows``, the first row of a key is the one reported as inserted.
    """
    rows = list(rows)
    first_of: dict[_Key, ReceiptRow] = {}
    for row in rows:
        first_of.setdefault((row.connection, row.dedup_key), row)
    ordered = sorted(first_of)
    keyring = keyring_of(conn)
    result = conn.execute(
        _insert_statement(conn.dialect.name),
        [_parameters(keyring, first_of[key]) for key in ordered],
    )
    inserted: dict[_Key, int] = {(c, k): int(i) for i, c, k in result}
    stored: dict[_Key, int] = {}
    if len(inserted) < len(ordered):
        columns = webhook_receipts.c
        already = [key for key in ordered if key not in inserted]
        found = conn.execute(
            select(columns.id, columns.connection, columns.dedup_key).where(
                tuple_(columns.connection, columns.dedup_key).in_(already)
            )
        )
        stored = {(c, k): int(i) for i, c, k in found}
    return _outcomes(rows, inserted, stored)
