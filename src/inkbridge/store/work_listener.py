"""LISTEN for a PostgreSQL region's work signals (``work_signals``) on a connection of its own.

Every process that inserts receipts or outbox rows sends ``NOTIFY inkbridge_work`` when the
insert commits; a worker listens so its loops wake at once instead of on their next poll. The
connection is dedicated (autocommit, never from the engine's pool, which would hold a pooled
connection for ever). When it drops, the worker keeps polling and the listener reconnects; on
every (re)connect it signals every kind once, as work may have been committed meanwhile.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any

import psycopg
import structlog

from inkbridge.errors import redacted_error
from inkbridge.store.database import RegionDatabase
from inkbridge.store.work_signals import CHANNEL, WORK_KINDS, WorkSignal

log = structlog.get_logger(__name__)

# No notice for this long: check the connection is still there (a half-open TCP connection
# would otherwise keep the worker on polling alone, unnoticed).
_PROBE_AFTER_SECONDS = 30.0
_PROBE_TIMEOUT_SECONDS = 10.0


def listener_name() -> str:
    """The application_name of this process's listening connections (pg_stat_activity)."""
    return f"inkbridge-listen-{os.getpid()}"


class WorkListener:
    """Calls ``on_signal`` on the event loop for each signal of ``db``'s region."""

    def __init__(
        self,
        db: RegionDatabase,
        on_signal: Callable[[WorkSignal], None],
        *,
        reconnect_seconds: float = 1.0,
    ) -> None:
        self.db = db
        self.on_signal = on_signal
        self.reconnect_seconds = reconnect_seconds
        self.connected = False

    def _connect_arguments(self) -> dict[str, Any]:
        """The engine's own connection parameters (host, credentials, options), so the listener
        reaches exactly the database the region's engine does."""
        engine = self.db.engine
        _args, parameters = engine.dialect.create_connect_args(engine.url)
        return {
            **parameters,
            "application_name": listener_name(),
            "autocommit": True,
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
        }

    async def run(self) -> None:
        while True:
            try:
                await self._listen()
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.warning("work_listener_lost", region=self.db.region, error=redacted_error(exc))
            finally:
                self.connected = False
            await asyncio.sleep(self.reconnect_seconds)

    async def _listen(self) -> None:
        region = self.db.region
        conn = await psycopg.AsyncConnection.connect(**self._connect_arguments())
        async with conn:
            await conn.execute(f"LISTEN {CHANNEL}")
            self.connected = True
            log.info("work_listener_connected", region=region)
            for kind in WORK_KINDS:
                self.on_signal(WorkSignal(region, kind))
            while True:
                heard = False
                async for notice in conn.notifies(timeout=_PROBE_AFTER_SECONDS):
                    heard = True
                    signal = WorkSignal.parse(notice.payload)
                    # Other databases' regions may share the server (and the channel).
                    if signal is not None and signal.region == region:
                        self.on_signal(signal)
                if not heard:
                    await asyncio.wait_for(conn.execute("SELECT 1"), _PROBE_TIMEOUT_SECONDS)
