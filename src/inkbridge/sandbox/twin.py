"""A destination's sandbox twin (``golive_twin = "sandbox"``): where the changes about
``inkbridge golive``'s test leads go instead of the vendor. It is the sandbox CRM's store (records
and write log) in a file of its own, ``<data_dir>/sandbox/twin-<destination>.db``, written by the
worker directly (no HTTP, no vendor account) and read by ``/v1/admin/golive/writes``.

Each change is written as the sandbox CRM connector would send it (``upsert_input``: the facts
and properties, the test mark included); an erasure deletes the lead's records there, as the
sandbox CRM's ``/records/erase`` does. The file is opened on first use, so a process that never
delivers (a command line tool) never creates it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

from inkbridge.connectors.base import BatchResult, Change, ChangeResult
from inkbridge.connectors.erasure import erasure_identifiers
from inkbridge.connectors.kinds import LEAD_ERASED
from inkbridge.connectors.sandbox_crm.connector import upsert_input
from inkbridge.errors import PermanentError
from inkbridge.sandbox.crm_store import CrmStore, UpsertInput

TWIN_BATCH = 100


def twin_path(data_dir: Path, destination: str) -> Path:
    """The twin's state file of ``destination``."""
    return data_dir / "sandbox" / f"twin-{destination}.db"


def open_twin(path: Path) -> CrmStore:
    path.parent.mkdir(parents=True, exist_ok=True)
    return CrmStore(path)


class SandboxTwin:
    """``Connector`` writing a destination's test-marked changes to its twin store."""

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.max_batch = TWIN_BATCH
        self.path = path
        self._store: CrmStore | None = None
        self._lock = threading.Lock()

    def _opened(self) -> CrmStore:
        with self._lock:
            if self._store is None:
                self._store = open_twin(self.path)
            return self._store

    def _write(self, changes: Sequence[Change]) -> list[ChangeResult]:
        store = self._opened()
        results = []
        for change in changes:
            if change.kind == LEAD_ERASED:
                try:
                    lead_id, _ = erasure_identifiers(change)
                except PermanentError as exc:
                    results.append(ChangeResult(change.outbox_id, False, error=exc.reason))
                    continue
                store.erase(lead_id)
            else:
                item = upsert_input(change)
                store.upsert([UpsertInput(item["id"], item["properties"], tuple(item["facts"]))])
            results.append(ChangeResult(change.outbox_id, ok=True))
        return results

    async def apply(self, changes: Sequence[Change]) -> BatchResult:
        # SQLite commits are durable (synchronous=FULL): off the event loop.
        return BatchResult(await asyncio.to_thread(self._write, changes))
