"""The ingest hot path in-process: CPU time (or instructions) per acknowledged delivery,
compared across checkouts of inkbridge.

The wall-clock benchmark (``bench/ingest.py``) compares inkbridge with a bare endpoint in the same
run, but on a shared 2-core machine its ratio spreads by about ±20 % from run to run, and it
measures the load client and the network stack too. This one drives the same ingest app (each
checkout's ``bench/ingest_app.py``: the webhook route over a fresh SQLite file, group commit,
``synchronous=FULL``) in-process through ASGI, with 32 deliveries in flight, and measures only
what the server spends:

- ``--measure cpu`` (default): process CPU time (every thread) per delivery over ``--large``
  deliveries after a warm-up of ``--small``, in ``--runs`` runs that alternate between the
  checkouts; the medians are compared;
- ``--measure instructions``: callgrind's instruction count, the difference between a run of
  ``--large`` and a run of ``--small`` deliveries divided by the difference (start-up cancels).
  Deterministic for one interleaving, but the writer thread's batching still varies by run.

```
.venv/bin/python bench/ingest_inprocess.py                              # this checkout
.venv/bin/python bench/ingest_inprocess.py --source . --source ../old   # paired with another
```
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest_load import webhook
from ingest_servers import SECRET

BENCH = Path(__file__).resolve().parent
CONCURRENCY = 32
TOTALS = re.compile(rb"^(?:summary|totals):\s+(\d+)", re.MULTILINE)


def signed_deliveries(count: int) -> list[dict[str, Any]]:
    """``count`` unique deliveries, built and signed as ``bench/ingest.py`` sends them (before
    any counting)."""
    now = datetime.now(UTC)
    deliveries = []
    for _ in range(count):
        body, headers = webhook("msg_" + uuid.uuid4().hex, now)
        headers["content-length"] = str(len(body))
        deliveries.append({"body": body.decode(), "headers": headers})
    return deliveries


# --- the driven process (run under callgrind) -------------------------------------------------


async def _lifespan(app: Any, kind: str) -> None:
    """Send one lifespan message (startup or shutdown) and wait for its completion."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    done = asyncio.Event()
    await inbox.put({"type": f"lifespan.{kind}"})

    async def receive() -> dict[str, Any]:
        return await inbox.get()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == f"lifespan.{kind}.complete":
            done.set()

    task = asyncio.create_task(app({"type": "lifespan"}, receive, send))
    await done.wait()
    if kind == "shutdown":
        await task
    else:
        task.cancel()


async def _deliver(app: Any, delivery: dict[str, Any]) -> int:
    body = delivery["body"].encode()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/webhooks/bench",
        "query_string": b"",
        "headers": [(k.encode(), v.encode()) for k, v in delivery["headers"].items()],
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _drive(
    app: Any, deliveries: list[dict[str, Any]], warmup: int
) -> tuple[list[int], float]:
    """Every delivery, ``CONCURRENCY`` in flight (so group commit batches as under load); the
    process CPU seconds spent on the deliveries after the first ``warmup``."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(delivery: dict[str, Any]) -> int:
        async with gate:
            return await _deliver(app, delivery)

    await _lifespan(app, "startup")
    statuses = await asyncio.gather(*(one(d) for d in deliveries[:warmup]))
    started = time.process_time()
    statuses += await asyncio.gather(*(one(d) for d in deliveries[warmup:]))
    spent = time.process_time() - started
    await _lifespan(app, "shutdown")
    return list(statuses), spent


def drive(source: Path, deliveries_file: Path, warmup: int) -> None:
    """Import ``source``'s ingest app over a fresh SQLite file, post every delivery and print
    the CPU microseconds per delivery after the warm-up."""
    sys.path[:0] = [str(source / "bench"), str(source / "src")]
    workdir = Path(tempfile.mkdtemp(prefix="inkbridge-inprocess-"))
    os.environ["INKBRIDGE_BENCH_DATABASE_URL"] = f"sqlite:///{workdir}/bench.db"
    os.environ["INKBRIDGE_BENCH_SECRET"] = SECRET
    # Imported here: the app of the checkout being measured, once its paths are set.
    import ingest_app

    deliveries = json.loads(deliveries_file.read_text())
    statuses, spent = asyncio.run(_drive(ingest_app.app, deliveries, warmup))
    shutil.rmtree(workdir, ignore_errors=True)
    accepted = sum(1 for status in statuses if status == 200)
    if accepted != len(deliveries):
        raise SystemExit(f"{len(deliveries) - accepted} deliveries were not acknowledged")
    measured = len(deliveries) - warmup
    print(json.dumps({"cpu_us_per_delivery": spent / measured * 1e6 if measured else 0.0}))


# --- the driver ---------------------------------------------------------------------------------


def _child(source: Path, file: Path, warmup: int) -> list[str]:
    return [
        sys.executable,
        __file__,
        "--drive",
        str(file),
        "--source",
        str(source),
        "--warmup",
        str(warmup),
    ]


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("PYTHONPATH", None)  # each checkout's src/ is put first by the driven process
    return env


def cpu_per_delivery(source: Path, warmup: int, measured: int) -> float:
    """CPU microseconds per delivery of one driven process (every thread), after a warm-up."""
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "deliveries.json"
        file.write_text(json.dumps(signed_deliveries(warmup + measured)))
        done = subprocess.run(
            _child(source, file, warmup), check=True, env=_env(), capture_output=True, text=True
        )
        return float(json.loads(done.stdout.strip().splitlines()[-1])["cpu_us_per_delivery"])


def count_instructions(source: Path, deliveries: list[dict[str, Any]]) -> int:
    """Instructions of one whole driven process (every thread) posting ``deliveries``."""
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / "deliveries.json"
        file.write_text(json.dumps(deliveries))
        out = Path(tmp) / "callgrind.out"
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={out}",
            *_child(source, file, 0),
        ]
        subprocess.run(command, check=True, env=_env(), capture_output=True)
        found = TOTALS.search(out.read_bytes())
        if found is None:
            raise SystemExit("callgrind wrote no totals")
        return int(found.group(1))


def instructions_per_delivery(source: Path, small: int, large: int) -> float:
    # Signed just before each run: a delivery must reach the app within the signature's
    # tolerance (5 minutes), and callgrind slows the process down some fifty times.
    few = count_instructions(source, signed_deliveries(small))
    many = count_instructions(source, signed_deliveries(large))
    return (many - few) / (large - small)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--source", type=Path, action="append", help="checkout to measure (repeatable)"
    )
    parser.add_argument("--measure", choices=["cpu", "instructions"], default="cpu")
    parser.add_argument("--runs", type=int, default=5, help="runs per checkout (cpu)")
    parser.add_argument("--small", type=int, default=1000, help="warm-up / short run")
    parser.add_argument("--large", type=int, default=6000, help="measured / long run")
    parser.add_argument("--drive", type=Path, help=argparse.SUPPRESS)  # internal
    parser.add_argument("--warmup", type=int, default=0, help=argparse.SUPPRESS)  # internal
    args = parser.parse_args()
    sources = [source.resolve() for source in (args.source or [BENCH.parent])]
    if args.drive:
        drive(sources[0], args.drive, args.warmup)
        return
    results: dict[str, list[float]] = {str(source): [] for source in sources}
    if args.measure == "instructions":
        if shutil.which("valgrind") is None:
            raise SystemExit("valgrind is needed: apt-get install valgrind")
        for source in sources:
            results[str(source)].append(instructions_per_delivery(source, args.small, args.large))
    else:
        for _ in range(args.runs):  # alternating, so a noisy minute hits every checkout
            for source in sources:
                results[str(source)].append(cpu_per_delivery(source, args.small, args.large))
    record = {
        "benchmark": "ingest_inprocess",
        "measure": "cpu_us_per_delivery" if args.measure == "cpu" else "instructions_per_delivery",
        "deliveries": {"warmup_or_small": args.small, "measured_or_large": args.large},
        "runs": results,
        "medians": {source: round(statistics.median(runs), 1) for source, runs in results.items()},
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
