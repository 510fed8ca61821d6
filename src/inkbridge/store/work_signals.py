"""Signals that a region has new work: a receipt in the inbox or a row in the outbox.

A write names the kind of work it added (``announce``) inside its transaction. When the
transaction is one of ``RegionDatabase.transaction``'s, the signal goes out once per kind and
transaction: on PostgreSQL as ``NOTIFY inkbridge_work, '<region>:<kind>'`` sent just before the
commit (so it is delivered on commit, and never for a rollback), and in this process, after the
commit, to whoever subscribed to the database's ``LocalSignals`` (a worker in ``serve``).
Signals only shorten a wait: a worker still polls, so a lost one costs a poll interval.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal, get_args

from sqlalchemy import Connection, text

CHANNEL = "inkbridge_work"
WorkKind = Literal["receipt", "outbox"]
WORK_KINDS: tuple[WorkKind, ...] = get_args(WorkKind)

# conn.info key of the kinds a tracked transaction has announced so far.
_ANNOUNCED = "inkbridge.work_announced"
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


@dataclass(frozen=True, slots=True)
class WorkSignal:
    region: str
    kind: WorkKind

    @property
    def payload(self) -> str:
        return f"{self.region}:{self.kind}"

    @classmethod
    def parse(cls, payload: str) -> WorkSignal | None:
        """The signal a NOTIFY payload names, or None for one this version does not know."""
        region, _, kind = payload.rpartition(":")
        for known in WORK_KINDS:
            if kind == known and region:
                return cls(region, known)
        return None


def announce(conn: Connection, kind: WorkKind) -> None:
    """Say that this transaction adds work of ``kind``. In a tracked transaction the signal is
    sent once, at commit; otherwise (PostgreSQL) a NOTIFY is queued in the transaction now."""
    announced = conn.info.get(_ANNOUNCED)
    if announced is not None:
        announced.add(kind)
    elif conn.dialect.name == "postgresql":
        region = conn.info.get("inkbridge.region", "")
        conn.execute(_NOTIFY, {"channel": CHANNEL, "payload": WorkSignal(region, kind).payload})


def track(conn: Connection) -> set[WorkKind]:
    """Start collecting the kinds announced in ``conn``'s transaction; returns the live set."""
    announced: set[WorkKind] = set()
    conn.info[_ANNOUNCED] = announced
    return announced


def untrack(conn: Connection) -> None:
    """Stop collecting (the connection goes back to the pool, maybe mid-error)."""
    conn.info.pop(_ANNOUNCED, None)


def before_commit(conn: Connection, region: str, announced: set[WorkKind]) -> None:
    """On PostgreSQL, queue one NOTIFY per announced kind: sent when the commit succeeds."""
    if conn.dialect.name == "postgresql":
        for kind in sorted(announced):
            conn.execute(_NOTIFY, {"channel": CHANNEL, "payload": WorkSignal(region, kind).payload})


Subscriber = Callable[[WorkSignal], None]


class LocalSignals:
    """This process's subscribers to one database's committed work. Subscribers are called on
    the committing thread, so they must only hand the signal over (``call_soon_threadsafe``)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: tuple[Subscriber, ...] = ()

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add ``subscriber``; returns the call that removes it."""
        with self._lock:
            self._subscribers = (*self._subscribers, subscriber)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = tuple(s for s in self._subscribers if s is not subscriber)

        return unsubscribe

    def publish(self, region: str, kinds: Iterable[WorkKind]) -> None:
        subscribers = self._subscribers
        if not subscribers:
            return
        for kind in kinds:
            signal = WorkSignal(region, kind)
            for subscriber in subscribers:
                subscriber(signal)
