"""Region databases: one SQLAlchemy engine per region, tuned for SQLite or PostgreSQL.

SQLite runs in WAL mode with ``synchronous=FULL`` (a commit is on disk before it returns) and
``BEGIN IMMEDIATE`` so writers queue on the busy timeout instead of failing on lock upgrades.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool

from inkbridge.errors import NotFound
from inkbridge.privacy.keyring import Keyring
from inkbridge.privacy.region_keys import RegionKeys
from inkbridge.store import work_signals
from inkbridge.store.driver_statements import savepoints_on_driver
from inkbridge.store.work_signals import LocalSignals

# The execution option of a SQLite connection that only reads, in a snapshot of its own while
# writers carry on (WAL): its transaction starts deferred, never taking the write lock.
DEFERRED_BEGIN = "inkbridge_deferred_begin"


def _sqlite_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"timeout": 30, "check_same_thread": False},
        pool_size=8,
        max_overflow=16,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN IMMEDIATE is ours to send.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        deferred = conn.get_execution_options().get(DEFERRED_BEGIN, False)
        conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")

    return engine


def redacted_url(url: str) -> str:
    """A database URL fit for a message: its password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparsable URL)"


def driver_reason(exc: BaseException) -> str:
    """The first line of what the driver said (it names hosts and files, never passwords)."""
    cause = getattr(exc, "orig", None) or exc
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def make_engine(url: str) -> Engine:
    """An engine for a region's database URL (``sqlite:///…`` or ``postgresql+psycopg://…``)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite"):
        engine = _sqlite_engine(url)
    elif url.startswith("postgresql"):
        engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    else:
        return create_engine(url, poolclass=NullPool)
    savepoints_on_driver(engine)  # a worker's savepoint per receipt, without compiling it
    return engine


class WriteQueue:
    """The in-process queue for SQLite's single writer: waiters get the lock in arrival order,
    except that urgent ones (the webhook receipt writer, whose every commit a provider is
    waiting on) go first, up to ``URGENT_STREAK`` times in a row while others wait.

    ``threading.Lock`` instead lets the thread that releases it take it straight back, so one
    busy loop of short transactions could keep the others waiting for as long as it has work;
    here a release hands the lock over.
    """

    URGENT_STREAK = 4

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held = False
        self._streak = 0
        self._urgent: deque[threading.Lock] = deque()
        self._others: deque[threading.Lock] = deque()

    def acquire(self, urgent: bool = False) -> None:
        with self._guard:
            if not self._held:
                self._held = True
                self._streak = 1 if urgent else 0
                return
            turn = threading.Lock()
            turn.acquire()
            (self._urgent if urgent else self._others).append(turn)
        turn.acquire()  # released by the holder handing over: the lock stays held

    def release(self) -> None:
        with self._guard:
            urgent_first = self._urgent and (not self._others or self._streak < self.URGENT_STREAK)
            if urgent_first:
                self._streak += 1
                self._urgent.popleft().release()
            elif self._others:
                self._streak = 0
                self._others.popleft().release()
            else:
                self._held = False

    @contextmanager
    def held(self, urgent: bool = False) -> Iterator[None]:
        self.acquire(urgent)
        try:
            yield
        finally:
            self.release()


@dataclass
class RegionDatabase:
    """The database of one region."""

    region: str
    url: str
    engine: Engine
    # The region's KEKs and this process's cache of unwrapped data keys; every connection this
    # database hands out carries it (``store.sealed_fields``).
    keyring: Keyring = field(default=None, repr=False)  # type: ignore[assignment]
    # SQLite has one writer at a time. Within a process, writers queue here and wake the moment
    # it is their turn; SQLite's own busy handler would sleep in steps of up to 100 ms.
    _write_lock: WriteQueue = field(default_factory=WriteQueue, repr=False)
    # Work committed through this object, for subscribers in this process (``work_signals``).
    signals: LocalSignals = field(default_factory=LocalSignals, repr=False)

    def __post_init__(self) -> None:
        if self.keyring is None:
            self.keyring = Keyring(RegionKeys.ephemeral(self.region))

    def _with_keys(self, conn: Connection) -> Connection:
        conn.info["inkbridge.keyring"] = self.keyring
        conn.info["inkbridge.region"] = self.region
        return conn

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def transaction(self, *, urgent: bool = False) -> Iterator[Connection]:
        """One write transaction: commit on success, roll back on any error. ``urgent`` puts it
        ahead of the queue of this process's SQLite writers (see ``WriteQueue``)."""
        # Only this process's SQLite writers queue; PostgreSQL takes its writers concurrently.
        queued = self._write_lock.held(urgent) if self.is_sqlite else nullcontext()
        with queued, self.engine.begin() as conn:
            announced = work_signals.track(conn)
            try:
                yield self._with_keys(conn)
                work_signals.before_commit(conn, self.region, announced)
            finally:
                work_signals.untrack(conn)
        self.signals.publish(self.region, announced)

    @contextmanager
    def reader(self) -> Iterator[Connection]:
        """A read-only transaction whose statements all see one snapshot: a view read in
        several queries (an envelope and its timeline) never mixes states from before and
        after a worker's commit. SQLite's transaction already is one; PostgreSQL's default
        (read committed) takes a snapshot per statement, so readers ask for repeatable read,
        which never fails a transaction that only reads."""
        with self.engine.connect() as conn:
            if self.is_postgres:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            yield self._with_keys(conn)
            conn.rollback()

    @contextmanager
    def snapshot(self) -> Iterator[Connection]:
        """A read-only transaction over one snapshot that never holds writers up, for a long
        read beside writes of the same process (replay): SQLite's begins deferred (a WAL
        reader), not immediate as every other transaction here; PostgreSQL's is repeatable
        read."""
        with self.engine.connect() as conn:
            if self.is_postgres:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            else:
                conn = conn.execution_options(**{DEFERRED_BEGIN: True})
            yield self._with_keys(conn)
            conn.rollback()

    def truncate_wal(self, wait_ms: int = 200) -> bool:
        """SQLite: copy the write-ahead log into the database file and empty it, so pages a
        scrub overwrote (a refused receipt's body) leave no earlier copy behind in the log.
        Waits at most ``wait_ms`` for readers; True when the log was emptied. Nothing to do
        on PostgreSQL (True)."""
        if not self.is_sqlite:
            return True
        with self._write_lock.held():
            raw = self.engine.raw_connection()
            cursor = raw.cursor()
            try:
                cursor.execute(f"PRAGMA busy_timeout={int(wait_ms)}")
                busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            finally:
                cursor.execute("PRAGMA busy_timeout=30000")  # as every connection opens
                cursor.close()
                raw.close()
        return not busy


class Databases:
    """Every region's database, by region name."""

    def __init__(
        self,
        urls: dict[str, str],
        home_region: str,
        keys: Mapping[str, RegionKeys] | None = None,
    ) -> None:
        """``keys``: each region's KEKs (``privacy.configured_keys``). A region given none
        gets a key that lives as long as this object: for tests and throwaway tools only, as
        whatever it seals cannot be read by another process."""
        self.home_region = home_region
        given = keys or {}
        self._regions = {
            name: RegionDatabase(
                region=name,
                url=url,
                engine=make_engine(url),
                keyring=Keyring(given[name] if name in given else RegionKeys.ephemeral(name)),
            )
            for name, url in urls.items()
        }

    def __getitem__(self, region: str) -> RegionDatabase:
        try:
            return self._regions[region]
        except KeyError:
            raise NotFound("region", region) from None

    def __iter__(self) -> Iterator[RegionDatabase]:
        return iter(self._regions.values())

    @property
    def home(self) -> RegionDatabase:
        return self._regions[self.home_region]

    @property
    def names(self) -> list[str]:
        return list(self._regions)

    def dispose(self) -> None:
        for db in self._regions.values():
            db.engine.dispose()
