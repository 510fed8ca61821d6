"""Replay at scale: ``inkbridge replay`` over N envelopes of four events each (issue 14: one
million events in 30 s or less).

Builds a fresh database (a SQLite file under /tmp, or a PostgreSQL database created for the run
and dropped after) holding N signed lifecycles (sent, viewed, signed, completed) as the worker
stores them: each envelope's event log hash-chained with the product's own linking, its chain
head, its row and its recipient consistent with the log; a known few envelope rows are then
made wrong. Times ``inkbridge replay`` as the user runs it (a subprocess, CPU time from
getrusage) and checks it reports exactly the wrong ones corrected, and that a sample of the
event logs verifies.

    .venv/bin/python bench/replay.py                            # SQLite, 250,000 envelopes
    .venv/bin/python bench/replay.py --postgres --save          # recorded in bench/results
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from tests.support.builders import LIFECYCLE  # noqa: E402

from inkbridge.domain.chain import GENESIS, link_hash  # noqa: E402
from inkbridge.domain.events import EventType, NormalizedEvent  # noqa: E402
from inkbridge.domain.intervals import interval_columns  # noqa: E402
from inkbridge.domain.lifecycle import EnvelopeSnapshot, apply_event  # noqa: E402
from inkbridge.ids import _encode  # noqa: E402
from inkbridge.store import event_log, migrate  # noqa: E402
from inkbridge.store.database import Databases  # noqa: E402
from inkbridge.store.envelopes import REPORT_MILESTONES  # noqa: E402
from inkbridge.store.schema import chain_heads, envelope_events, envelopes, recipients  # noqa: E402

PG_ADMIN_URL = os.environ.get("INKBRIDGE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
START = datetime(2026, 11, 1, tzinfo=UTC)
CHUNK = 5000  # envelopes per insert transaction
_SUMMARY = re.compile(r"(\d+) envelopes replayed, (\d+) corrected")
_CORRECTED = re.compile(r"^\s+corrected (\S+)$", re.MULTILINE)


def envelope_id(index: int) -> str:
    return f"env_{_encode(index, 26)}"


def lifecycle_rows(index: int) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """One envelope's row, its event log (chained) and its chain head, as the worker leaves
    them after a whole lifecycle."""
    env_id, start = envelope_id(index), START + timedelta(seconds=index)
    correlation = f"cor_{_encode(index, 26)}"
    snapshot, prev_hash, events = EnvelopeSnapshot(envelope_id=env_id), GENESIS, []
    for position, (kind, recipient, minute) in enumerate(LIFECYCLE):
        event = NormalizedEvent(
            type=EventType(kind),
            provider="sandbox",
            provider_envelope_id=f"sbx_{index}",
            occurred_at=start + timedelta(minutes=minute),
            recipient_id=recipient,
            vendor_event=kind,
        )
        applied = apply_event(snapshot, event)
        content = {
            "region": "default",
            "envelope_id": env_id,
            "receipt_id": index * len(LIFECYCLE) + position + 1,
            "event_index": 0,
            "event_type": kind,
            "vendor_event": kind,
            "recipient_id": recipient,
            "occurred_at": event.occurred_at,
            "received_at": event.occurred_at + timedelta(seconds=1),
            "outcome": applied.outcome.value,
            "from_state": snapshot.state.value,
            "to_state": applied.snapshot.state.value,
            "correlation_id": correlation,
        }
        entry_hash = link_hash(prev_hash, content)
        events.append({**content, "prev_hash": prev_hash, "hash": entry_hash})
        snapshot, prev_hash = applied.snapshot, entry_hash
    milestones = snapshot.milestones
    row: dict[str, Any] = {
        "id": env_id,
        "region": "default",
        "connection": "sandbox",
        "provider": "sandbox",
        "provider_envelope_id": f"sbx_{index}",
        "correlation_id": correlation,
        "state": snapshot.state.value,
        "delivery_failed": snapshot.delivery_failed,
        "conflicts": [],
        "milestones": {k: v.isoformat() for k, v in sorted(milestones.items())},
        **{name: milestones.get(name) for name in REPORT_MILESTONES},
        **interval_columns(dict(milestones)),
        "attribution": {},
        "metadata": {},
        "linked": True,
        "needs_reconcile": False,
        "version": len(LIFECYCLE),
        "created_at": start,
        "updated_at": start + timedelta(minutes=10),
    }
    head = {"name": event_log.chain_name(env_id), "last_hash": prev_hash, "length": len(events)}
    return row, events, head


def wrong_indexes(count: int, wrong: int) -> list[int]:
    return sorted({(i * 7919 + 13) % count for i in range(wrong)})


def load(url: str, count: int, wrong: int) -> list[str]:
    """Fill the database; the ids of the envelopes whose rows were left wrong."""
    databases = Databases({"default": url}, home_region="default")
    migrate.upgrade_all(databases)
    db = databases.home
    broken = set(wrong_indexes(count, wrong))
    for first in range(0, count, CHUNK):
        rows, events, heads, people = [], [], [], []
        for index in range(first, min(first + CHUNK, count)):
            row, log, head = lifecycle_rows(index)
            if index in broken:  # stored as if the last three events had been lost
                row = {
                    **row,
                    "state": "sent",
                    "milestones": {"sent_at": row["sent_at"].isoformat()},
                }
            rows.append(row)
            events += log
            heads.append(head)
            people.append(
                {"envelope_id": row["id"], "recipient_id": "1", "status": "signed"}
                | {"email": None, "name": None, "updated_at": row["updated_at"]}
            )
        with db.transaction() as conn:
            conn.execute(envelopes.insert(), rows)
            conn.execute(recipients.insert(), people)
            conn.execute(envelope_events.insert(), events)
            conn.execute(chain_heads.insert(), heads)
    sample = [envelope_id(i) for i in range(0, count, max(1, count // 500))]
    with db.reader() as conn:
        for env_id in sample:
            found = event_log.verify(conn, "default", env_id, event_log.head(conn, env_id))
            if found is not None:
                raise SystemExit(f"event log of {env_id} does not verify: {found.reason}")
    databases.dispose()
    return sorted(envelope_id(i) for i in broken)


def write_config(root: Path, url: str) -> Path:
    secret = root / "sandbox.secret"
    secret.write_text("whsec_bench_replay")
    config = root / "inkbridge.toml"
    config.write_text(
        f'data_dir = "{root / "data"}"\n\n[regions.default]\ndatabase_url = "{url}"\n\n'
        f'[connections.sandbox]\nprovider = "sandbox"\nsecrets = ["file:{secret}"]\n'
    )
    return config


def run_verify(config: Path) -> bool:
    """``inkbridge verify`` (every chain, the audit log with the replay's entries included)."""
    done = subprocess.run(
        [sys.executable, "-m", "inkbridge.cli", "verify", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode == 0 and "all chains intact" in done.stdout


def run_replay(config: Path) -> dict[str, Any]:
    """``inkbridge replay`` as a subprocess: its wall and CPU time and what it reported."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "inkbridge.cli", "replay", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"inkbridge replay failed ({done.returncode}):\n{done.stderr[-2000:]}")
    summary = _SUMMARY.search(done.stdout)
    if summary is None:
        raise SystemExit(f"no summary in the output:\n{done.stdout[-2000:]}")
    return {
        "wall_seconds": round(seconds, 2),
        "cpu_seconds": round(
            (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), 2
        ),
        "max_rss_mb": round(after.ru_maxrss / 1024),
        "envelopes_replayed": int(summary.group(1)),
        "corrected": _CORRECTED.findall(done.stdout),
    }


def fresh_database(postgres: bool, root: Path) -> Iterator[str]:
    if not postgres:
        yield f"sqlite:///{root / 'inkbridge.db'}"
        return
    import psycopg

    name = "inkbridge_bench_replay_" + uuid.uuid4().hex[:8]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envelopes", type=int, default=250_000)
    parser.add_argument("--wrong", type=int, default=100)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--twice", action="store_true", help="replay again: nothing to correct")
    parser.add_argument("--verify", action="store_true", help="run inkbridge verify after")
    parser.add_argument(
        "--save", action="store_true", help="record under the backend in results/replay-<date>"
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="inkbridge-replay-"))
    try:
        for url in fresh_database(args.postgres, root):
            started = time.perf_counter()
            expected = load(url, args.envelopes, args.wrong)
            loaded = time.perf_counter() - started
            config = write_config(root, url)
            load_before = os.getloadavg()
            runs = [run_replay(config) for _ in range(2 if args.twice else 1)]
            verified = run_verify(config) if args.verify else None
    finally:
        shutil.rmtree(root, ignore_errors=True)
    first = runs[0]
    result = {
        "backend": "postgresql" if args.postgres else "sqlite",
        "envelopes": args.envelopes,
        "events": args.envelopes * len(LIFECYCLE),
        "wrong": len(expected),
        "load_seconds": round(loaded, 1),
        "replay": {k: v for k, v in first.items() if k != "corrected"},
        "corrected_exactly_the_wrong_ones": first["corrected"] == expected,
        "second_replay": [
            {k: v for k, v in r.items() if k != "corrected"} | {"corrected": len(r["corrected"])}
            for r in runs[1:]
        ],
        "verify_intact": verified,
        "loadavg_before_replay": load_before,
        "loadavg_after": os.getloadavg(),
        "python": sys.version.split()[0],
    }
    print(json.dumps(result, indent=2))
    if args.save:
        path = BENCH / "results" / f"replay-{datetime.now(UTC):%Y-%m-%d}.json"
        saved = json.loads(path.read_text()) if path.exists() else {}
        saved[result["backend"]] = result
        path.write_text(json.dumps(saved, indent=2) + "\n")
    if not result["corrected_exactly_the_wrong_ones"]:
        raise SystemExit("replay did not report exactly the envelopes made wrong")


if __name__ == "__main__":
    main()
