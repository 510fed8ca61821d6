"""Appending to hash-chained tables (audit log, event log, consent ledger) and verifying them.

The head of each chain lives in ``chain_heads`` and is locked while an entry is appended, so
concurrent writers on PostgreSQL link one after another; SQLite writers are serialised anyway.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from inkbridge.domain.chain import GENESIS, link_hash
from inkbridge.store.schema import chain_heads

# Statements built once: executing a prebuilt statement with parameters reuses SQLAlchemy's
# compiled form, which matters on the worker's path (several chain appends per receipt).
_SELECT_HEAD = select(chain_heads.c.last_hash, chain_heads.c.length).where(
    chain_heads.c.name == bindparam("chain")
)
_SELECT_HEAD_FOR_UPDATE = _SELECT_HEAD.with_for_update()
_UPDATE_HEAD = (
    update(chain_heads)
    .where(chain_heads.c.name == bindparam("chain"))
    .values(last_hash=bindparam("new_hash"), length=bindparam("new_length"))
)
# Each chained table's insert, built on first use.
_INSERTS: dict[str, Any] = {}
_INSERT_HEAD = {
    "postgresql": postgresql.insert(chain_heads).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(chain_heads).on_conflict_do_nothing(),
}


def _lock_head(conn: Connection, name: str) -> tuple[str, int]:
    postgres = conn.dialect.name == "postgresql"
    query = _SELECT_HEAD_FOR_UPDATE if postgres else _SELECT_HEAD
    row = conn.execute(query, {"chain": name}).first()
    if row is None:
        conn.execute(
            _INSERT_HEAD[conn.dialect.name], {"name": name, "last_hash": GENESIS, "length": 0}
        )
        row = conn.execute(query, {"chain": name}).one()
    return str(row.last_hash), int(row.length)


def hold(conn: Connection, chain: str) -> None:
    """Lock ``chain``'s head until the transaction ends (PostgreSQL; SQLite's one writer holds
    every head already), so a transaction that will append to it takes it before any other
    lock."""
    _lock_head(conn, chain)


def append(
    conn: Connection, table: Table, chain: str, content: Mapping[str, Any]
) -> tuple[int, str]:
    """Insert ``content`` as the next entry of ``chain`` and return (primary key, hash)."""
    # Hash what will be read back: UTC datetimes (the columns store UTC).
    content = {k: (v.astimezone(UTC) if isinstance(v, datetime) else v) for k, v in content.items()}
    prev_hash, length = _lock_head(conn, chain)
    entry_hash = link_hash(prev_hash, content)
    insert = _INSERTS.get(table.name)
    if insert is None:
        insert = _INSERTS[table.name] = table.insert()
    result = conn.execute(insert, {**content, "prev_hash": prev_hash, "hash": entry_hash})
    conn.execute(_UPDATE_HEAD, {"chain": chain, "new_hash": entry_hash, "new_length": length + 1})
    key = result.inserted_primary_key
    return (int(key[0]) if key is not None else 0), entry_hash


@dataclass(frozen=True)
class ChainBreak:
    chain: str
    position: int  # 0-based index of the first entry that does not link, or the length
    reason: str


def verify_entries(
    chain: str,
    rows: Iterator[Mapping[str, Any]],
    content_columns: list[str],
    head: tuple[str, int] | None,
) -> ChainBreak | None:
    """Walk a chain's rows in order and report the first break, including a truncated tail."""
    expected_prev = GENESIS
    count = 0
    for row in rows:
        content = {name: row[name] for name in content_columns}
        if row["prev_hash"] != expected_prev:
            return ChainBreak(chain, count, "entry does not link to the one before it")
        if link_hash(row["prev_hash"], content) != row["hash"]:
            return ChainBreak(chain, count, "entry content does not match its hash")
        expected_prev = row["hash"]
        count += 1
    if head is not None:
        last_hash, length = head
        if length != count or last_hash != expected_prev:
            return ChainBreak(chain, count, f"chain head records {length} entries, found {count}")
    return None


def heads(conn: Connection, prefix: str = "") -> dict[str, tuple[str, int]]:
    """The head (last hash, length) of every chain whose name starts with ``prefix``."""
    query = select(chain_heads.c.name, chain_heads.c.last_hash, chain_heads.c.length)
    if prefix:
        query = query.where(chain_heads.c.name.startswith(prefix, autoescape=True))
    return {r.name: (r.last_hash, int(r.length)) for r in conn.execute(query)}
