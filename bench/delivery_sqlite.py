"""What delivery costs ``inkbridge serve`` (SQLite) per delivered change: CPU time, SQL
statements and commits of draining a backlog, with ``deliver_once``, the worker's own code.

A fresh SQLite database (``synchronous=FULL``, as ``serve`` runs it) gets ``--changes`` due
outbox rows written as processing writes them (``outbox.enqueue``: the payload sealed under the
lead's key), ``--per-record`` state changes (``envelope.state_changed``, a coalescing kind) of
each record. One delivery loop drains it into either an in-memory destination that accepts every
change (the default: the database and delivery's own Python are what is measured) or, with
``--crm``, the sandbox CRM connector over HTTP to a sandbox CRM process (so the connector's
request building, JSON and httpx count too; the CRM's own CPU does not, it is another process).

Reported: CPU per delivered change (process time, every thread), statements per change by verb
and table, commits per change, vendor requests; ``--cprofile N`` prints the N costliest
functions of the drain (its claims and settles then run on the loop's thread, so that
the profile sees them).

    .venv/bin/python bench/delivery_sqlite.py --changes 4000
    .venv/bin/python bench/delivery_sqlite.py --changes 4000 --crm --cprofile 30 --label after
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import platform
import pstats
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

import httpx  # noqa: E402
from sqlalchemy import event  # noqa: E402
from tests.support.fakes import RecordingConnector  # noqa: E402
from tests.support.processes import PYTHON, Process, free_port, wait_http  # noqa: E402

from inkbridge.config import DestinationSettings  # noqa: E402
from inkbridge.connectors.base import Connector  # noqa: E402
from inkbridge.connectors.sandbox_crm.connector import SandboxCrmConnector  # noqa: E402
from inkbridge.services.delivery import DestinationRuntime, deliver_once  # noqa: E402
from inkbridge.services.routing import Destination  # noqa: E402
from inkbridge.store import migrate, outbox  # noqa: E402
from inkbridge.store.database import Databases, RegionDatabase  # noqa: E402
from processing import statement_kind  # noqa: E402

# Whether the statements and commits seen now are delivery's (not the loading of a chunk).
METER = {"on": False}


def payload(n: int) -> dict[str, Any]:
    """A state change as processing queues it (the lead's contact fields, the envelope)."""
    return {
        "envelope": {
            "id": f"env_{n}",
            "state": "sent",
            "template_key": "nda",
            "lead_id": f"lead_{n}",
            "provider": "sandbox",
            "provider_envelope_id": f"pe_{n}",
            "milestones": {"sent_at": "2026-12-14T09:00:00Z"},
        },
        "lead": {"id": f"lead_{n}", "email": f"someone{n}@example.com", "first_name": "Some"},
        "event": {"type": "envelope.sent", "occurred_at": "2026-12-14T09:00:00Z"},
        "correlation_id": f"cor_{n}",
    }


def load(db: RegionDatabase, changes: range, records: int) -> None:
    due = datetime.now(UTC) - timedelta(minutes=1)
    with db.transaction() as conn:
        for g in changes:
            n = g % records
            outbox.enqueue(
                conn,
                region=db.region,
                destination="crm",
                idempotency_key=f"fact-{g}",
                record_key=f"envelope:env_{n}",
                kind="envelope.state_changed",
                payload=payload(n),
                correlation_id=f"cor_{n}",
                now=due,
            )


async def drain(
    db: RegionDatabase, connector: Connector, args: argparse.Namespace
) -> dict[str, Any]:
    """Deliver the backlog; with ``--chunk``, load that many changes, deliver them, and again
    (changes arriving a few at a time, as in a live ``serve``). Only delivery is timed."""
    settings = DestinationSettings.model_validate(
        {"kind": "sandbox_crm", "batch_size": args.batch_size, "rate_per_second": 1_000_000}
    )
    destination = Destination("crm", settings, connector, coalesce=True)
    runtime = DestinationRuntime.for_destination(destination)
    passes, attempted, cpu, wall = 0, 0, 0.0, 0.0
    records = max(1, args.changes // args.per_record)
    chunk = args.chunk or args.changes
    for start in range(0, args.changes, chunk):
        if args.chunk:
            load(db, range(start, min(args.changes, start + chunk)), records)
        began_cpu, began_wall = time.process_time(), time.perf_counter()
        METER["on"] = True
        # As the worker's loop: another pass at once only after a full claim (an older
        # checkout, without ``backlog``, claims until a claim comes back empty).
        while done := await deliver_once(runtime, db):
            passes += 1
            attempted += done
            if not getattr(runtime, "backlog", True):
                break
        METER["on"] = False
        cpu += time.process_time() - began_cpu
        wall += time.perf_counter() - began_wall
    return {"passes": passes, "changes_sent": attempted, "cpu": cpu, "wall": wall}


def run(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    url = f"sqlite:///{root / 'inkbridge.db'}"
    databases = Databases({"default": url}, home_region="default")
    migrate.upgrade_all(databases)
    db = databases.home
    if not args.chunk:
        load(db, range(args.changes), max(1, args.changes // args.per_record))
    statements: Counter[str] = Counter()
    commits = 0

    def count(_conn: Any, _cursor: Any, sql: str, *_rest: Any) -> None:
        if METER["on"]:
            statements[statement_kind(sql)] += 1

    def committed(_conn: Any) -> None:
        nonlocal commits
        commits += METER["on"]

    event.listen(db.engine, "before_cursor_execute", count)
    event.listen(db.engine, "commit", committed)
    crm: Process | None = None
    if args.crm:
        port = free_port()
        crm = Process(
            [PYTHON, "-m", "inkbridge.sandbox.crm", "--port", str(port), "--db", str(root / "c")],
            root / "crm.log",
        ).start()
        wait_http(f"http://127.0.0.1:{port}/records", timeout=120, proc=crm.proc)
    profiler = cProfile.Profile() if args.cprofile else None
    try:

        async def main() -> dict[str, Any]:
            if crm is None:
                fake = RecordingConnector(max_batch=args.batch_size)
                return {**await drain(db, fake, args), "vendor_requests": fake.calls}
            async with httpx.AsyncClient(timeout=20.0) as client:
                real = SandboxCrmConnector("crm", f"http://127.0.0.1:{port}", client, 100)
                calls = Counter[str]()
                client.event_hooks["request"] = [_count_request(calls)]
                drained = await drain(db, real, args)
                return {**drained, "vendor_requests": calls["n"]}

        if profiler:
            # cProfile sees one thread: the claim and settle run inline instead of in one.
            asyncio.to_thread = _inline  # type: ignore[assignment]
            profiler.enable()
        drained = asyncio.run(main())
        if profiler:
            profiler.disable()
        cpu, wall = drained.pop("cpu"), drained.pop("wall")
    finally:
        if crm is not None:
            crm.proc.terminate()
            crm.proc.wait(timeout=30)
        databases.dispose()
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.cprofile)
    per = args.changes
    return {
        "changes": args.changes,
        "per_record": args.per_record,
        "chunk": args.chunk or None,
        "batch_size": args.batch_size,
        "connector": "sandbox CRM over HTTP" if args.crm else "in-memory",
        **drained,
        "cpu_ms_per_change": round(cpu / per * 1000, 4),
        "wall_ms_per_change": round(wall / per * 1000, 4),
        "commits_per_change": round(commits / per, 4),
        "statements_per_change": round(sum(statements.values()) / per, 4),
        "statements": dict(statements.most_common()),
        "profiled": bool(profiler),
    }


async def _inline(func: Any, /, *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


def _count_request(calls: Counter[str]) -> Any:
    async def hook(_request: httpx.Request) -> None:
        calls["n"] += 1

    return hook


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=4000)
    parser.add_argument("--per-record", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--chunk", type=int, default=0, help="load and deliver this many at a time")
    parser.add_argument("--crm", action="store_true", help="the sandbox CRM over HTTP")
    parser.add_argument("--cprofile", type=int, default=0, help="print the N costliest functions")
    parser.add_argument("--label", default="", help="write bench/results/delivery-sqlite-<date>-…")
    args = parser.parse_args()
    result = run(args, Path(tempfile.mkdtemp(prefix="inkbridge-delivery-")))
    result["load_average_1min"] = os.getloadavg()[0]
    print(json.dumps(result, indent=2))
    if args.label:
        record = {
            "benchmark": "delivery_sqlite",
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "bench/delivery_sqlite.py " + " ".join(sys.argv[1:]),
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
            "result": result,
        }
        out = BENCH / "results" / f"delivery-sqlite-{datetime.now(UTC):%Y-%m-%d}-{args.label}.json"
        out.write_text(json.dumps(record, indent=2) + "\n")
        print(f"results written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
