"""What a write transaction keeps in memory while it runs, so a batch of receipts does not read
and write the same rows once per receipt: the chain heads it has locked and moved (written back
once, before the commit) and the data keys it created (not yet committed, so not in the
keyring's cache).

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

from sqlalchemy import Connection, Engine, event

from inkbridge.privacy.keyring import DataKey, Subject

_MEMO = "inkbridge.transaction_memo"


@dataclass
class _State:
    # Chain name -> (last hash, length) as this transaction sees it.
    heads: dict[str, tuple[str, int]] = field(default_factory=dict)
    # Chains whose head moved since it was read (written back by the flush).
    moved: set[str] = field(default_factory=set)
    # Data keys created in this transaction, by subject.
    keys: dict[Subject, DataKey] = field(default_factory=dict)

    def copy(self) -> _State:
        return _State(dict(self.heads), set(self.moved), dict(self.keys))


@dataclass
class TransactionMemo:
    """The memo of one transaction; ``state`` is replaced wholesale on a savepoint rollback."""

    state: _State = field(default_factory=_State)
    # The state when each open savepoint began, innermost last (savepoints nest: they are
    # opened and closed as context managers).
    marks: list[_State] = field(default_factory=list)


def memo_of(conn: Connection) -> TransactionMemo | None:
    """The memo of ``conn``'s transaction, or None outside a ``memo_scope``."""
    memo = conn.info.get(_MEMO)
    return memo if isinstance(memo, TransactionMemo) else None


Flush = Callable[[Connection, dict[str, tuple[str, int]]], None]


@contextmanager
def memo_scope(conn: Connection, flush_heads: Flush) -> Iterator[TransactionMemo]:
    """Keep a memo for the rest of the block, inside the caller's transaction. On a normal exit
    the moved heads are handed to ``flush_heads`` (in the transaction, before the caller
    commits); on an error nothing is written: the transaction is rolling back anyway."""
    if memo_of(conn) is not None:
        raise RuntimeError("a transaction memo is already open on this connection")
    _follow_savepoints(conn.engine)
    memo = TransactionMemo()
    conn.info[_MEMO] = memo
    try:
        yield memo
        state = memo.state
        if state.moved:
            flush_heads(conn, {name: state.heads[name] for name in sorted(state.moved)})
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
