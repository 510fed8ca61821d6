"""Appending to hash-chained tables (audit log, event log, consent ledger) and verifying them.

The head of each chain lives in ``chain_heads`` and is locked while an entry is appended, so
concurrent writers on PostgreSQL link one after another; SQLite writers are serialised anyway.
Inside a transaction memo (``memoized_heads``, the worker's batches) a head is read and locked
once, entries are linked in memory, and each moved head is written back once before the commit.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Table, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from inkbridge.domain.chain import GENESIS, link_hash
from inkbridge.store.driver_statements import DriverStatement
from inkbridge.store.schema import chain_heads
from inkbridge.store.transaction_memo import (
    MemoState,
    TransactionMemo,
    execute_later,
    memo_of,
    memo_scope,
    run_deferred,
)

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
# Each chained table's insert returning its key, by the columns given, run on the driver's
# cursor (``append``: an envelope's event log entry per event on the worker's path).
_KEYED_INSERTS: dict[tuple[str, tuple[str, ...]], DriverStatement] = {}
# RETURNING tells our insert (the new row is ours, locked) from a concurrent writer's.
_INSERT_HEAD = {
    "postgresql": postgresql.insert(chain_heads)
    .on_conflict_do_nothing()
    .returning(chain_heads.c.name),
    "sqlite": sqlite.insert(chain_heads).on_conflict_do_nothing().returning(chain_heads.c.name),
}


def _read_head(conn: Connection, name: str) -> tuple[str, int]:
    postgres = conn.dialect.name == "postgresql"
    query = _SELECT_HEAD_FOR_UPDATE if postgres else _SELECT_HEAD
    row = conn.execute(query, {"chain": name}).first()
    if row is None:
        params = {"name": name, "last_hash": GENESIS, "length": 0}
        if conn.execute(_INSERT_HEAD[conn.dialect.name], params).first() is not None:
            return GENESIS, 0
        row = conn.execute(query, {"chain": name}).one()
    return str(row.last_hash), int(row.length)


def _lock_head(conn: Connection, name: str, memo: TransactionMemo | None) -> tuple[str, int]:
    if memo is None:
        return _read_head(conn, name)
    found = memo.state.heads.get(name)
    if found is None:
        # First use in this transaction (or since a savepoint that read it rolled back, which
        # released its lock): read and lock it.
        found = memo.state.heads[name] = _read_head(conn, name)
    return found


def _write_heads(conn: Connection, moved: dict[str, tuple[str, int]]) -> None:
    conn.execute(
        _UPDATE_HEAD,
        [
            {"chain": name, "new_hash": last_hash, "new_length": length}
            for name, (last_hash, length) in moved.items()
        ],
    )


def _flush(conn: Connection, state: MemoState) -> None:
    """The entries appended at the flush linked to their chains (each head locked now, if the
    transaction did not hold it already), the deferred writes (chained rows in order), then the
    moved heads.

    Deadlock-freedom on PostgreSQL (the audit chain: every batch of every worker appends to
    it): once a transaction holds a head taken here, it takes no other lock that another
    writer's transaction could hold. What is left are inserts into an append-only table (keys
    from a sequence: no other writer's row to wait for), the settling of receipts this
    transaction leased (a claim skips locked rows), and the write-back of heads it locked
    earlier. A transaction waiting for the head here may hold envelope chain heads and rows:
    nobody holding the head waits for those, so the wait ends with the holder's commit."""
    memo = TransactionMemo(state)
    for table, chain, content in state.unlinked:
        row, entry_hash, length = _linked(conn, chain, content, memo)
        execute_later(conn, _insert_of(table), row)
        _moved(conn, chain, (entry_hash, length), memo)
    state.unlinked.clear()
    run_deferred(conn, state)
    if state.moved:
        _write_heads(conn, {name: state.heads[name] for name in sorted(state.moved)})


def memoized_heads(conn: Connection) -> AbstractContextManager[TransactionMemo]:
    """For the rest of the block, read each chain head once in ``conn``'s transaction and write
    each moved head back once at the block's end (it must end before the commit), after the
    writes deferred to it (``append_at_flush``, ``transaction_memo.execute_later``); a savepoint
    rolled back inside it takes its appends and deferred writes with it. Code in the block must
    not read ``chain_heads`` itself."""
    return memo_scope(conn, _flush)


def _insert_of(table: Table) -> Any:
    insert = _INSERTS.get(table.name)
    if insert is None:
        insert = _INSERTS[table.name] = table.insert()
    return insert


def _linked(
    conn: Connection, chain: str, content: Mapping[str, Any], memo: TransactionMemo | None
) -> tuple[dict[str, Any], str, int]:
    """The row that extends ``chain`` with ``content`` (hashing what will be read back: UTC
    datetimes, as the columns store them), its hash and the chain's new length."""
    content = {k: (v.astimezone(UTC) if isinstance(v, datetime) else v) for k, v in content.items()}
    prev_hash, length = _lock_head(conn, chain, memo)
    entry_hash = link_hash(prev_hash, content)
    return {**content, "prev_hash": prev_hash, "hash": entry_hash}, entry_hash, length + 1


def _moved(
    conn: Connection, chain: str, head: tuple[str, int], memo: TransactionMemo | None
) -> None:
    if memo is None:
        _write_heads(conn, {chain: head})
    else:
        memo.state.heads[chain] = head
        memo.state.moved.add(chain)


def append_at_flush(conn: Connection, table: Table, chain: str, content: Mapping[str, Any]) -> None:
    """Append ``content`` as the next entry of ``chain``. Inside a memo it is linked and
    inserted when the memo ends, after the block's other work, with the other entries appended
    so, in order: the chain's head is locked only then (unless the transaction holds it
    already: ``hold``), so a chain every transaction appends to (the audit log) is held for the
    flush and the commit only. For a table with no constraint an entry could break, whose keys
    nobody reads back. Outside a memo it is linked and inserted at once."""
    memo = memo_of(conn)
    if memo is not None and (
        chain not in memo.state.heads or any(c == chain for _, c, _ in memo.state.unlinked)
    ):
        memo.state.unlinked.append((table, chain, dict(content)))
        return
    row, entry_hash, length = _linked(conn, chain, content, memo)
    execute_later(conn, _insert_of(table), row)
    _moved(conn, chain, (entry_hash, length), memo)


def hold(conn: Connection, chain: str) -> None:
    """Lock ``chain``'s head until the transaction ends (PostgreSQL; SQLite's one writer holds
    every head already), so a transaction that will append to it takes it before any other
    lock."""
    _lock_head(conn, chain, memo_of(conn))


def _keyed_insert_of(table: Table, columns: tuple[str, ...]) -> DriverStatement:
    insert = _KEYED_INSERTS.get((table.name, columns))
    if insert is None:
        (key,) = table.primary_key.columns
        insert = _KEYED_INSERTS[(table.name, columns)] = DriverStatement(
            table.insert().returning(key), column_keys=columns
        )
    return insert


def append(
    conn: Connection, table: Table, chain: str, content: Mapping[str, Any]
) -> tuple[int, str]:
    """Insert ``content`` as the next entry of ``chain`` and return (primary key, hash)."""
    memo = memo_of(conn)
    row, entry_hash, length = _linked(conn, chain, content, memo)
    (key,) = _keyed_insert_of(table, tuple(row)).rows(conn, row)
    _moved(conn, chain, (entry_hash, length), memo)
    return int(key[0]), entry_hash


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
