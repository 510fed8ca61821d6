"""What the CRM emulators (HubSpot, Salesforce, Dynamics) share: a record table in SQLite, a
sliding-window rate limit, the fault gate and the process entry point.

Failure injection reuses the sandbox CRM's ``FaultPlan`` and ``FaultBody`` (``POST /_faults``
takes the same body everywhere: ``mode`` ok|error500|rate_limit|timeout|slow|down, ``count``,
``delay``, ``retry_after``); each emulator renders the injected failure in its vendor's error
format. Faults hit the vendor's data API only, never its token endpoint or the ``/_`` inspection
endpoints, so a test can always read the state it asserts on.

The rate limit is a sliding window (HubSpot's rolling ten seconds, Dataverse's five minutes,
Salesforce's rolling 24 hours), not the sandbox's token bucket: vendors count requests in a
window, and tests assert on the largest number any window saw.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from starlette.requests import Request

__all__ = [
    "RecordTable",
    "SlidingWindow",
    "limit_body",
    "now_iso",
    "read_json",
    "requests_summary",
    "route_counter",
    "seconds_header",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    object TEXT NOT NULL,
    id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    properties TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (object, id)
);
"""


# Property names that may be written into a statement (see ``RecordTable.find``).
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_]{1,100}")


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


async def read_json(request: Request) -> Any:
    """The request body as JSON; ``ValueError`` when it is not JSON."""
    raw = await request.body()
    return json.loads(raw or b"null")


class RecordTable:
    """Records per vendor object, each a JSON object of properties, in SQLite.

    A file database commits every write, so what the emulator acknowledged survives a crash of
    the emulator process; without a path the same schema lives in memory. ``savepoint`` groups
    writes that must all land or none (a Dataverse change set, Salesforce ``allOrNone``).
    """

    def __init__(self, path: Path | None) -> None:
        target = str(path) if path is not None else ":memory:"
        self._conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._seq = 0
        self._savepoints = 0
        self._indexed: set[str] = set()
        if path is not None:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)
        row = self._conn.execute("SELECT COALESCE(MAX(seq), 0) FROM records").fetchone()
        self._seq = int(row[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def get(self, obj: str, record_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT properties FROM records WHERE object = ? AND id = ?", (obj, record_id)
            ).fetchone()
        return None if row is None else dict(json.loads(row["properties"]))

    def find(self, obj: str, prop: str, value: Any) -> tuple[str, dict[str, Any]] | None:
        """The first record of ``obj`` whose property ``prop`` equals ``value``.

        Lookups by a unique property (an upsert's id property) run for every input of every
        batch, so a plain property name gets an index on its value, created on first use: a
        scan of every record per lookup made the emulator, not the client, what a large burst
        measured. SQLite only uses an expression index for the same expression, so the path is
        written into the statement; only names of letters, digits and ``_`` qualify."""
        if value in (None, ""):
            return None
        with self._lock:
            if _PLAIN_NAME.fullmatch(prop):
                expression = f"json_extract(properties, '$.\"{prop}\"')"
                if prop not in self._indexed:
                    self._conn.execute(
                        f'CREATE INDEX IF NOT EXISTS "ix_records_{prop}"'
                        f" ON records (object, {expression})"
                    )
                    self._indexed.add(prop)
                row = self._conn.execute(
                    f"SELECT id, properties FROM records WHERE object = ? AND {expression} = ?"  # noqa: S608
                    " ORDER BY seq LIMIT 1",
                    (obj, value),
                ).fetchone()
            else:
                row = self._conn.execute(
                    "SELECT id, properties FROM records WHERE object = ?"
                    " AND json_extract(properties, ?) = ? ORDER BY seq LIMIT 1",
                    (obj, '$."' + prop.replace('"', "") + '"', value),
                ).fetchone()
        return None if row is None else (row["id"], dict(json.loads(row["properties"])))

    def all(self, obj: str) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, properties FROM records WHERE object = ? ORDER BY seq", (obj,)
            ).fetchall()
        return [(row["id"], dict(json.loads(row["properties"]))) for row in rows]

    def objects(self) -> list[str]:
        with self._lock:
            rows = self._conn.execute("SELECT DISTINCT object FROM records ORDER BY 1").fetchall()
        return [row[0] for row in rows]

    def put(self, obj: str, record_id: str, properties: Mapping[str, Any]) -> bool:
        """Store a record whole; True when it was created."""
        now = now_iso()
        body = json.dumps(dict(properties), sort_keys=True, default=str)
        with self._lock:
            self._seq += 1
            found = self._conn.execute(
                "SELECT 1 FROM records WHERE object = ? AND id = ?", (obj, record_id)
            ).fetchone()
            if found is None:
                self._conn.execute(
                    "INSERT INTO records (object, id, seq, properties, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (obj, record_id, self._seq, body, now, now),
                )
                return True
            self._conn.execute(
                "UPDATE records SET properties = ?, updated_at = ? WHERE object = ? AND id = ?",
                (body, now, obj, record_id),
            )
            return False

    def delete(self, obj: str, record_id: str) -> bool:
        """Remove one record; False when there was none."""
        with self._lock:
            cursor = self._conn.execute(
                "DELETE FROM records WHERE object = ? AND id = ?", (obj, record_id)
            )
        return bool(cursor.rowcount)

    def reset(self) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM records")

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Writes inside either all stay or, when the block raises, are all undone."""
        with self._lock:
            self._savepoints += 1
            name = f"sp{self._savepoints}"
            self._conn.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                self._conn.execute(f"ROLLBACK TO {name}")
                self._conn.execute(f"RELEASE {name}")
                raise
            self._conn.execute(f"RELEASE {name}")

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        """Every record by object, for ``GET /_state``."""
        return {
            obj: [{"id": rid, "properties": props} for rid, props in self.all(obj)]
            for obj in self.objects()
        }


class SlidingWindow:
    """A vendor's request limit: at most ``limit`` admitted requests in any ``window`` seconds.

    Every arrival is counted (rejected ones too, as the vendors count them towards nothing but
    a client's reputation); ``max_seen_in_window`` is the most arrivals any window held, which
    is what a test of client-side pacing asserts on.
    """

    def __init__(
        self,
        limit: int | None,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window_seconds = window_seconds
        self._clock = clock
        self._admitted: deque[float] = deque()
        self._arrivals: deque[float] = deque()
        self.requests_total = 0
        self.rejected_total = 0
        self.faulted_total = 0
        self.max_seen_in_window = 0

    def _trim(self, now: float) -> None:
        edge = now - self.window_seconds
        for queue in (self._admitted, self._arrivals):
            while queue and queue[0] <= edge:
                queue.popleft()

    def arrive(self) -> float | None:
        """Count one request; None if admitted, else seconds until the window has room."""
        now = self._clock()
        self._trim(now)
        self.requests_total += 1
        self._arrivals.append(now)
        self.max_seen_in_window = max(self.max_seen_in_window, len(self._arrivals))
        if self.limit is not None and len(self._admitted) >= self.limit:
            self.rejected_total += 1
            return max(0.001, self._admitted[0] + self.window_seconds - now)
        self._admitted.append(now)
        return None

    def used(self) -> int:
        self._trim(self._clock())
        return len(self._admitted)

    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.used())

    def set_limit(self, limit: int | None) -> None:
        self.limit = limit

    @property
    def interval_ms(self) -> int:
        """The window in milliseconds, as the vendors' rate-limit headers state it."""
        return int(self.window_seconds * 1000)

    def stats(self) -> dict[str, Any]:
        return {
            "requests_total": self.requests_total,
            "rejected_total": self.rejected_total,
            "faulted_total": self.faulted_total,
            "max_seen_in_window": self.max_seen_in_window,
            "window_seconds": self.window_seconds,
            "limit": self.limit,
        }


def seconds_header(value: float) -> str:
    """``Retry-After`` in whole seconds unless a fraction was asked for."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def limit_body(raw: Any, key: str) -> int | None:
    """The new limit from a ``POST /_limits`` body ``{key: N | null}``; ValueError if invalid."""
    if not isinstance(raw, dict) or key not in raw:
        raise ValueError(f"body must be {{{key!r}: N or null}}")
    value = raw[key]
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{key} must be a positive integer or null")
    return value


def requests_summary(window: SlidingWindow, by_route: Mapping[str, int]) -> dict[str, Any]:
    """The request counters ``GET /_state`` reports."""
    return {**window.stats(), "by_route": dict(sorted(by_route.items()))}


def route_counter() -> tuple[dict[str, int], Callable[[str], None]]:
    counts: dict[str, int] = {}

    def count(name: str) -> None:
        counts[name] = counts.get(name, 0) + 1

    return counts, count
