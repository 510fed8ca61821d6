"""What the Pipedrive, Marketo and Mautic emulators share: a JSON document store (an SQLite file,
or SQLite in memory), the vendors' rate-limit shapes (sliding windows, a daily budget, a
concurrency cap) with the counters tests read and the process runner. Faults are injected
through ``inkbridge_emulators.faults``; each vendor module renders them in its own shape (a 429,
or Marketo's 606 inside an HTTP 200).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inkbridge_emulators.faults import FaultGate

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE TABLE IF NOT EXISTS sequences (kind TEXT PRIMARY KEY, last INTEGER NOT NULL);
"""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class DocumentStore:
    """JSON documents by (kind, id), with per-kind integer ids as vendors hand out.

    A file database commits every write, so what the emulator acknowledged survives a kill of
    its process; without a path the same schema lives in memory.
    """

    def __init__(self, db_path: Path | None) -> None:
        target = str(db_path) if db_path is not None else ":memory:"
        self._conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        if db_path is not None:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(_SCHEMA)

    def get(self, kind: str, doc_id: str | int) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT body FROM documents WHERE kind = ? AND id = ?", (kind, str(doc_id))
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def put(self, kind: str, doc_id: str | int, body: dict[str, Any]) -> None:
        text = json.dumps(body, separators=(",", ":"), sort_keys=True)
        with self._lock:
            self._conn.execute(
                "INSERT INTO documents (kind, id, body) VALUES (?, ?, ?) "
                "ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body",
                (kind, str(doc_id), text),
            )

    def delete(self, kind: str, doc_id: str | int) -> None:
        with self._lock:
            self._conn.execute(
                "DELETE FROM documents WHERE kind = ? AND id = ?", (kind, str(doc_id))
            )

    def all(self, kind: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT body FROM documents WHERE kind = ? ORDER BY rowid", (kind,)
            ).fetchall()
        return [dict(json.loads(row[0])) for row in rows]

    def next_id(self, kind: str) -> int:
        with self._lock:
            self._conn.execute(
                "INSERT INTO sequences (kind, last) VALUES (?, 1) "
                "ON CONFLICT (kind) DO UPDATE SET last = last + 1",
                (kind,),
            )
            row = self._conn.execute(
                "SELECT last FROM sequences WHERE kind = ?", (kind,)
            ).fetchone()
        return int(row[0])

    def reset(self) -> None:
        with self._lock:
            self._conn.execute("DELETE FROM documents")
            self._conn.execute("DELETE FROM sequences")


class SlidingWindow:
    """At most ``limit`` requests in any ``window`` seconds (None: unlimited, still counted).

    Counts what tests assert on: arrivals, rejections and the most requests seen in one window.
    """

    def __init__(self, limit: int | None, window: float) -> None:
        self.limit = limit
        self.window = window
        self._admitted: deque[float] = deque()
        self._arrivals: deque[float] = deque()
        self.requests_total = 0
        self.rejected_total = 0
        self.max_seen_in_window = 0

    def _trim(self, now: float) -> None:
        for times in (self._admitted, self._arrivals):
            while times and times[0] <= now - self.window:
                times.popleft()

    def arrive(self, now: float | None = None) -> float | None:
        """Count one request; None if admitted, else seconds until the window has room."""
        at = time.monotonic() if now is None else now
        self._trim(at)
        self.requests_total += 1
        self._arrivals.append(at)
        self.max_seen_in_window = max(self.max_seen_in_window, len(self._arrivals))
        if self.limit is not None and len(self._admitted) >= self.limit:
            self.rejected_total += 1
            return max(0.0, self._admitted[0] + self.window - at)
        self._admitted.append(at)
        return None

    def remaining(self, now: float | None = None) -> int | None:
        if self.limit is None:
            return None
        self._trim(time.monotonic() if now is None else now)
        return max(0, self.limit - len(self._admitted))

    def reset_in(self, now: float | None = None) -> float:
        """Seconds until the oldest admitted request leaves the window."""
        at = time.monotonic() if now is None else now
        self._trim(at)
        return max(0.0, self._admitted[0] + self.window - at) if self._admitted else 0.0

    def stats(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "window_seconds": self.window,
            "requests_total": self.requests_total,
            "rejected_total": self.rejected_total,
            "max_seen_in_window": self.max_seen_in_window,
        }


def seconds_until_utc_midnight(now: datetime | None = None) -> float:
    at = now or datetime.now(UTC)
    midnight = (at + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return (midnight - at).total_seconds()


class DailyBudget:
    """A daily allowance spent per request (a call count, or Pipedrive's token costs)."""

    def __init__(self, budget: int | None) -> None:
        self.budget = budget
        self.spent = 0
        self.rejected_total = 0
        self._day = datetime.now(UTC).date()

    def _roll(self) -> None:
        today = datetime.now(UTC).date()
        if today != self._day:
            self._day, self.spent = today, 0

    def spend(self, cost: int = 1) -> bool:
        """Spend ``cost``; False (nothing spent) when the day's allowance cannot cover it."""
        self._roll()
        if self.budget is not None and self.spent + cost > self.budget:
            self.rejected_total += 1
            return False
        self.spent += cost
        return True

    @property
    def remaining(self) -> int | None:
        self._roll()
        return None if self.budget is None else max(0, self.budget - self.spent)

    def stats(self) -> dict[str, Any]:
        return {"budget": self.budget, "spent": self.spent, "rejected_total": self.rejected_total}


class Concurrency:
    """Requests in flight at once, against an optional cap."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.in_flight = 0
        self.max_in_flight = 0
        self.rejected_total = 0

    @contextmanager
    def slot(self) -> Iterator[bool]:
        """Yield True when this request fits under the cap (it is counted either way)."""
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        admitted = self.limit is None or self.in_flight <= self.limit
        if not admitted:
            self.rejected_total += 1
        try:
            yield admitted
        finally:
            self.in_flight -= 1

    def stats(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "max_in_flight": self.max_in_flight,
            "rejected_total": self.rejected_total,
        }


class Traffic:
    """Requests per route (``"PATCH /api/contacts/batch/edit"``), for tests and ``/_state``."""

    def __init__(self) -> None:
        self.by_route: Counter[str] = Counter()
        self.faulted_total = 0

    def count(self, request: Request) -> None:
        route = request.scope.get("route")
        path = getattr(route, "path", request.url.path)
        self.by_route[f"{request.method} {path}"] += 1

    def stats(self) -> dict[str, Any]:
        return {
            "requests_total": sum(self.by_route.values()),
            "by_route": dict(sorted(self.by_route.items())),
            "faulted_total": self.faulted_total,
        }


async def read_json(request: Request) -> Any:
    """The body as JSON, or None when it is empty or not JSON (vendors then answer 400)."""
    raw = await request.body()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


async def read_params(request: Request) -> dict[str, str]:
    """Query parameters merged with a form-encoded body, as servlet-style vendors read them."""
    params = dict(request.query_params)
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form = await request.form()
        params.update({key: str(value) for key, value in form.items()})
    return params


def bearer_token(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


class Inspectable(Protocol):
    """An emulator a test can inspect, reset and inject faults into."""

    faults: FaultGate

    def state(self) -> dict[str, Any]: ...

    def reset(self) -> None: ...


class IssuesTokens(Inspectable, Protocol):
    """An emulator that issues OAuth access tokens a test can expire."""

    tokens: dict[str, float]

    def expire_tokens(self) -> None: ...


def control_routes(emulator: Inspectable) -> list[Route]:
    """The test-control routes: ``GET|POST /_faults`` and ``GET|DELETE /_state`` (a DELETE
    forgets everything)."""

    async def state(request: Request) -> Response:
        if request.method == "DELETE":
            emulator.reset()
            return JSONResponse({"ok": True})
        return JSONResponse(emulator.state())

    return [
        Route("/_faults", emulator.faults.endpoint, methods=["GET", "POST"]),
        Route("/_state", state, methods=["GET", "DELETE"]),
    ]


def token_expiry_route(emulator: IssuesTokens) -> Route:
    """``POST /_expire_tokens``: every issued access token expires now."""

    async def expire_tokens(request: Request) -> Response:
        emulator.expire_tokens()
        return JSONResponse({"expired": len(emulator.tokens)})

    return Route("/_expire_tokens", expire_tokens, methods=["POST"])
