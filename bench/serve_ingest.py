"""Webhooks into one `inkbridge serve` process (API and worker together) on the embedded default:
how fast deliveries are acknowledged while the same process works through them, and how fast
the receipts are processed during and after the burst.

`bench/ingest.py` measures the hot path alone; here the worker's own SQLite transactions
(processing receipts, claiming and settling deliveries to the sandbox CRM) share the database,
the GIL and the event loop with it. Real processes over loopback: `inkbridge serve` with the
sandbox CRM destination, and this script as the provider, sending envelope lifecycles (sent,
viewed, signed, completed) signed with Standard Webhooks from a minimal keep-alive client.

    .venv/bin/python bench/serve_ingest.py                      # 12,000 deliveries, 16 at a time
    .venv/bin/python bench/serve_ingest.py --batch-size 8       # smaller processing transactions
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from tests.support.builders import SECRET, event_body, signed  # noqa: E402
from tests.support.processes import INKBRIDGE, Process, free_port, wait_http  # noqa: E402

from ingest_load import fire_raw, raw_request  # noqa: E402

STEPS = [
    ("document_sent", None),
    ("document_viewed", "1"),
    ("recipient_signed", "1"),
    ("document_completed", None),
]


def write_config(root: Path, port: int, batch_size: int) -> Path:
    (root / "sandbox.secret").write_text(SECRET)
    config = root / "inkbridge.toml"
    config.write_text(
        f"""
data_dir = "{root / "data"}"
sandbox = true
log_level = "warning"
[server]
port = {port}
[worker]
poll_interval_seconds = 0.05
batch_size = {batch_size}
[connections.sandbox]
provider = "sandbox"
secrets = ["file:{root / "sandbox.secret"}"]
[destinations.crm]
kind = "sandbox_crm"
rate_per_second = 200
"""
    )
    return config


def processed(db: Path) -> int:
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("SELECT count(*) FROM webhook_receipts WHERE status = 'done'")
        return int(row.fetchone()[0])
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deliveries", type=int, default=12_000, help="a multiple of 4")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=50, help="[worker] batch_size")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="inkbridge-serve-bench-"))
    port = free_port()
    config = write_config(root, port, args.batch_size)
    base = f"http://127.0.0.1:{port}"
    server = Process([*INKBRIDGE, "serve", "--config", str(config)], root / "serve.log").start()
    try:
        wait_http(base + "/healthz", proc=server.proc)
        database = next((root / "data").rglob("*.db"))
        t0 = datetime.now(UTC) - timedelta(hours=1)
        url = base + "/v1/webhooks/sandbox"
        wire = []
        for n in range(args.deliveries // 4):
            for minute, (kind, recipient) in enumerate(STEPS):
                body = event_body(
                    kind, f"sbx_serve_{n:06d}", t0 + timedelta(minutes=minute), recipient
                )
                wire.append(raw_request(url, body, signed(body)))
        total = len(wire)
        load_before = os.getloadavg()[0]

        started = time.monotonic()
        latencies, statuses = asyncio.run(fire_raw(url, wire, args.concurrency))
        sent = time.monotonic()
        during = processed(database)
        while processed(database) < total and time.monotonic() - sent < 600:
            time.sleep(0.2)
        drained = time.monotonic()
        after = processed(database)
    finally:
        server.stop()

    latencies.sort()
    burst = sent - started
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "bench/serve_ingest.py " + " ".join(sys.argv[1:]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
        },
        "settings": vars(args),
        "deliveries": total,
        "statuses": {str(k): v for k, v in statuses.items()},
        "ingest_per_s": round(total / burst, 1),
        "ack_ms": {
            "p50": round(latencies[len(latencies) // 2] * 1000, 2),
            "p99": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
            "max": round(latencies[-1] * 1000, 2),
        },
        "processed_during_burst": during,
        "processed_per_s_during_burst": round(during / burst, 1),
        "processed_in_all": after,
        "seconds_to_process_all": round(drained - started, 2),
    }
    print(json.dumps(result, indent=2))
    if set(statuses) != {200} or after != total:
        raise SystemExit("not every delivery was acknowledged and processed")
    out = BENCH / "results" / f"serve-ingest-{datetime.now(UTC):%Y-%m-%d}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
