"""What a write transaction keeps in memory while it runs, so a batch of receipts does not read
and write the same rows once per receipt: the chain heads it has locked and moved (written back
once, before the commit), writes that can wait for the end of the batch (the audit entries, linked
to their chain only then, and the settling of processed receipts: one statement each then, rows
in the order they came),
the data keys it created (not yet committed, so not in the keyring's cache), and the rows it has
read and keeps current with its own writes (the envelopes and recipients of a batch).

A memo lives in ``conn.info`` for the span of ``memo_scope`` only. Savepoints are followed
through the engine's events: a savepoint rolled back restores the memo as it was when the
savepoint began, so a receipt that fails in its savepoint leaves no head moved and no key
remembered (and, on PostgreSQL, the heads it first locked inside it are read and locked again:
rolling back to a savepoint releases the row locks taken after it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, Executable, event

from inkbridge.privacy.keyring import DataKey, Subject

_MEMO = "inkbridge.transaction_memo"


@dataclass
class MemoState:
    """What the transaction has seen and deferred so far."""

    # Chain name -> (last hash, length) as this transaction sees it.
    heads: dict[str, tuple[str, int]] = field(default_factory=dict)
    # Chains whose head moved since it was read (written back by the flush).
    moved: set[str] = field(default_factory=set)
    # Statements (and their parameters) to run at the flush, in this order per statement.
    deferred: list[tuple[Executable, dict[str, Any]]] = field(default_factory=list)
    # Chained entries whose head is taken only at the flush, in order: (table, chain, content).
    unlinked: list[tuple[Any, str, dict[str, Any]]] = field(default_factory=list)
    # Data keys created in this transaction, by subject.
    keys: dict[Subject, DataKey] = field(default_factory=dict)
    # Rows read in this transaction, by a key their repository chooses, kept current by that
    # repository's writes (immutable values: a write replaces the entry).
    reads: dict[tuple[str, ...], Any] = field(default_factory=dict)

    def copy(self) -> MemoState:
        return MemoState(
            dict(self.heads),
            set(self.moved),
            list(self.deferred),
            list(self.unlinked),
            dict(self.keys),
            dict(self.reads),
        )


@dataclass
class TransactionMemo:
    """The memo of one transaction; ``state`` is replaced wholesale on a savepoint rollback."""

    state: MemoState = field(default_factory=MemoState)
    # The state when each open savepoint began, innermost last (savepoints nest: they are
    # opened and closed as context managers).
    marks: list[MemoState] = field(default_factory=list)


def memo_of(conn: Connection) -> TransactionMemo | None:
    """The memo of ``conn``'s transaction, or None outside a ``memo_scope``."""
    memo = conn.info.get(_MEMO)
    return memo if isinstance(memo, TransactionMemo) else None


def execute_later(conn: Connection, statement: Executable, params: dict[str, Any]) -> None:
    """Run ``statement`` with ``params`` when the memo ends (at once outside one): for writes
    nothing in the transaction reads back, whose result nobody needs, and that no constraint
    can refuse."""
    memo = memo_of(conn)
    if memo is None:
        conn.execute(statement, params)
    else:
        memo.state.deferred.append((statement, params))


def forget_reads(conn: Connection) -> None:
    """Drop the rows the memo keeps (another writer changed one of them first): the next use
    reads them again."""
    memo = memo_of(conn)
    if memo is not None:
        memo.state.reads.clear()


def run_deferred(conn: Connection, state: MemoState) -> None:
    """The deferred writes: one statement each, its parameter sets in the order they came."""
    grouped: dict[Executable, list[dict[str, Any]]] = {}
    for statement, params in state.deferred:
        grouped.setdefault(statement, []).append(params)
    for statement, batch in grouped.items():
        conn.execute(statement, batch)


Flush = Callable[[Connection, MemoState], None]


@contextmanager
def memo_scope(conn: Connection, flush: Flush) -> Iterator[TransactionMemo]:
    """Keep a memo for the rest of the block, inside the caller's transaction. On a normal exit
    its final state is handed to ``flush`` (in the transaction, before the caller commits); on
    an error nothing is written: the transaction is rolling back anyway."""
    if memo_of(conn) is not None:
        raise RuntimeError("a transaction memo is already open on this connection")
    _follow_savepoints(conn.engine)
    memo = TransactionMemo()
    conn.info[_MEMO] = memo
    try:
        yield memo
        flush(conn, memo.state)
    finally:
        conn.info.pop(_MEMO, None)


# The savepoint event comes before SQLAlchemy names the savepoint, so marks are a stack.
def _savepoint(conn: Connection, _name: str | None) -> None:
    memo = memo_of(conn)
    if memo is not None:
        memo.marks.append(memo.state.copy())


def _rollback_savepoint(conn: Connection, _name: str, _context: Any) -> None:
    memo = memo_of(conn)
    if memo is not None and memo.marks:
        memo.state = memo.marks.pop()


def _release_savepoint(conn: Connection, _name: str, _context: Any) -> None:
    memo = memo_of(conn)
    if memo is not None and memo.marks:
        memo.marks.pop()


_LISTENERS: tuple[tuple[str, Callable[..., None]], ...] = (
    ("savepoint", _savepoint),
    ("rollback_savepoint", _rollback_savepoint),
    ("release_savepoint", _release_savepoint),
)


def _follow_savepoints(engine: Engine) -> None:
    """Listen to ``engine``'s savepoints, once per engine (only engines that use memos)."""
    for name, listener in _LISTENERS:
        if not event.contains(engine, name, listener):
            event.listen(engine, name, listener)
