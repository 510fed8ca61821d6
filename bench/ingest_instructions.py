"""Instructions per acknowledged webhook on the ingest hot path, counted by callgrind.

The wall-clock benchmark (``bench/ingest.py``) compares inkbridge with a bare endpoint in the same
run, but on a shared 2-core machine its ratio spreads by about ±20 % from run to run. Instruction
counts do not: callgrind counts the same total for the same code and inputs whatever else the
machine is doing. This benchmark drives the same ingest app as ``bench/ingest.py`` (its
``ingest_app.py``: the webhook route over a fresh SQLite file, group commit, ``synchronous=FULL``)
in-process through ASGI, without a server or a network, and reports the instructions one
acknowledged delivery costs: the difference between a run of ``--large`` and a run of ``--small``
deliveries, divided by the difference in deliveries, so start-up and migration cancel out.

```
.venv/bin/python bench/ingest_instructions.py                  # this checkout
.venv/bin/python bench/ingest_instructions.py --source ../old  # another checkout of inkbridge
```

``--source`` names a checkout whose ``src/`` and ``bench/ingest_app.py`` are measured, so two
versions of the code are compared with the same deliveries. Needs valgrind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from datetime import UTC, datetime
from math import floor
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # any base64 secret; both sides use it
CONCURRENCY = 32
TOTALS = re.compile(rb"^(?:summary|totals):\s+(\d+)", re.MULTILINE)


def signed_deliveries(count: int) -> list[dict[str, Any]]:
    """``count`` unique deliveries, signed with the official package (before any counting)."""
    from standardwebhooks.webhooks import Webhook

    signer, now = Webhook(SECRET), datetime.now(UTC)
    deliveries = []
    for _ in range(count):
        msg_id = "msg_" + uuid.uuid4().hex
        body = json.dumps(
            {
                "type": "document_completed",
                "timestamp": now.isoformat(),
                "data": {
                    "envelope_id": f"env-{msg_id}",
                    "recipient_id": "1",
                    "recipient_email": "signer@example.com",
                    "occurred_at": now.isoformat(),
                    "metadata": {"inkbridge_envelope_id": f"ink-{msg_id}", "campaign": "bench"},
                },
            }
        )
        headers = {
            "content-type": "application/json",
            "content-length": str(len(body)),
            "webhook-id": msg_id,
            "webhook-timestamp": str(floor(now.timestamp())),
            "webhook-signature": signer.sign(msg_id, now, body),
        }
        deliveries.append({"body": body, "headers": headers})
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


async def _drive(app: Any, deliveries: list[dict[str, Any]]) -> list[int]:
    """Every delivery, ``CONCURRENCY`` in flight (so group commit batches as under load)."""
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(delivery: dict[str, Any]) -> int:
        async with gate:
            return await _deliver(app, delivery)

    await _lifespan(app, "startup")
    statuses = await asyncio.gather(*(one(d) for d in deliveries))
    await _lifespan(app, "shutdown")
    return list(statuses)


def drive(source: Path, deliveries_file: Path) -> None:
    """Import ``source``'s ingest app over a fresh SQLite file and post every delivery."""
    sys.path[:0] = [str(source / "bench"), str(source / "src")]
    workdir = Path(tempfile.mkdtemp(prefix="inkbridge-instr-"))
    os.environ["INKBRIDGE_BENCH_DATABASE_URL"] = f"sqlite:///{workdir}/bench.db"
    os.environ["INKBRIDGE_BENCH_SECRET"] = SECRET
    # Imported here: the app of the checkout being measured, once its paths are set.
    import ingest_app

    deliveries = json.loads(deliveries_file.read_text())
    statuses = asyncio.run(_drive(ingest_app.app, deliveries))
    shutil.rmtree(workdir, ignore_errors=True)
    accepted = sum(1 for status in statuses if status == 200)
    if accepted != len(deliveries):
        raise SystemExit(f"{len(deliveries) - accepted} deliveries were not acknowledged")


# --- the driver ---------------------------------------------------------------------------------


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
            sys.executable,
            __file__,
            "--drive",
            str(file),
            "--source",
            str(source),
        ]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        env.pop("PYTHONPATH", None)
        subprocess.run(command, check=True, env=env, capture_output=True)
        found = TOTALS.search(out.read_bytes())
        if found is None:
            raise SystemExit("callgrind wrote no totals")
        return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=BENCH.parent, help="checkout to measure")
    parser.add_argument("--small", type=int, default=200, help="deliveries in the short run")
    parser.add_argument("--large", type=int, default=1200, help="deliveries in the long run")
    parser.add_argument("--drive", type=Path, help=argparse.SUPPRESS)  # internal
    args = parser.parse_args()
    source = args.source.resolve()
    if args.drive:
        drive(source, args.drive)
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is needed: apt-get install valgrind")
    # Signed just before each run: a delivery must reach the app within the signature's
    # tolerance (5 minutes), and callgrind slows the process down some fifty times.
    small = count_instructions(source, signed_deliveries(args.small))
    large = count_instructions(source, signed_deliveries(args.large))
    per_delivery = (large - small) / (args.large - args.small)
    record = {
        "benchmark": "ingest_instructions",
        "source": str(source),
        "deliveries": [args.small, args.large],
        "instructions": [small, large],
        "instructions_per_delivery": round(per_delivery),
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
