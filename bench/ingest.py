"""Benchmark of the webhook hot path against a bare ASGI endpoint, served the same way.

One run starts two uvicorn servers as subprocesses on free local ports, with identical options:
(a) inkbridge's ingest app over a fresh SQLite file (WAL, synchronous=FULL), one Standard
Webhooks connection; (b) a raw ASGI callable that reads the body and answers 200. Each target
then gets the same load from separate client processes: a warm-up, then rounds (alternating
between the targets) of a fixed number of unique webhooks, signed before the clock starts, at
fixed concurrency. The driver reports throughput, p50/p99 latency, the servers' CPU time per
request and the inkbridge/bare ratio, kills the inkbridge server with SIGKILL and checks that
every acknowledged webhook is a committed row. Results go to ``bench/results/ingest-<date>.json``.

    .venv/bin/python bench/ingest.py            # 5 rounds x 5000 requests, concurrency 32
    .venv/bin/python bench/ingest.py --load-client httpx --clients 2
    .venv/bin/python bench/ingest.py --help

See bench/README.md for the recorded figures and how to read them."""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest_load import LOAD_CLIENTS, run_client
from ingest_report import Phase, machine_busy_fraction, print_table, summary
from ingest_servers import BENCH, Server, count_rows, event_loop_option, group_commit_stats, servers

RESULTS = BENCH / "results"
CONNECTION = "bench"  # as in ingest_app.py
TARGET_PATH = f"/v1/webhooks/{CONNECTION}"


def run_phase(server: Server, tag: str, requests: int, args: argparse.Namespace) -> Phase:
    """Send ``requests`` unique webhooks to ``server`` from ``args.clients`` processes."""
    clients = []
    for index in range(args.clients):
        spec = {
            "url": server.url + TARGET_PATH,
            "prefix": f"{server.name}-{tag}-{index}",
            "concurrency": args.concurrency // args.clients,
            "requests": requests // args.clients,
            "load_client": args.load_client,
        }
        clients.append(
            subprocess.Popen(
                [sys.executable, __file__, "--client", json.dumps(spec)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    for client in clients:  # wait until every client has signed its requests
        assert client.stdout is not None and client.stdout.readline().strip() == "ready"
    cpu_before = server.cpu_seconds()
    for client in clients:
        assert client.stdin is not None
        client.stdin.write("go\n")
        client.stdin.flush()
    reports = [json.loads(client.stdout.readline()) for client in clients if client.stdout]
    server_cpu = server.cpu_seconds() - cpu_before
    for client in clients:
        client.wait(timeout=30)
    statuses: Counter[int] = Counter()
    for report in reports:
        statuses.update({int(code): n for code, n in report["statuses"].items()})
    return Phase(
        requests=sum(len(report["latencies"]) for report in reports),
        seconds=max(r["finished"] for r in reports) - min(r["started"] for r in reports),
        latencies=[latency for report in reports for latency in report["latencies"]],
        statuses=statuses,
        client_cpu_seconds=sum(report["cpu_seconds"] for report in reports),
        server_cpu_seconds=server_cpu,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--requests", type=int, default=5000, help="measured requests per target and round"
    )
    parser.add_argument("--rounds", type=int, default=5, help="measured rounds per target")
    parser.add_argument("--warmup", type=int, default=1000, help="warm-up requests per target")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    parser.add_argument("--clients", type=int, default=1, help="load-generating processes")
    parser.add_argument(
        "--load-client",
        choices=LOAD_CLIENTS,
        default="raw",
        help="raw: minimal keep-alive HTTP/1.1 client (default); httpx: httpx.AsyncClient",
    )
    parser.add_argument("--client", help=argparse.SUPPRESS)  # internal: run as a load client
    args = parser.parse_args()
    if args.client:
        run_client(json.loads(args.client))
        return

    # The servers and the client share the machine's CPUs with anything else running on it.
    busy_before = machine_busy_fraction()
    if busy_before > 0.2:
        print(f"warning: the machine was {busy_before:.0%} busy before the run", file=sys.stderr)
    load_before = os.getloadavg()[0]
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="inkbridge-bench-") as tmp, servers(Path(tmp)) as run:
        bare, inkbridge, database = run
        targets = (bare, inkbridge)
        phases: dict[str, list[Phase]] = {server.name: [] for server in targets}
        for server in targets:
            phases[server.name].append(run_phase(server, "warm", args.warmup, args))
        # Rounds alternate between the targets so that a burst of outside load on this shared
        # machine does not fall on one target only.
        for round_number in range(args.rounds):
            for server in targets:
                phase = run_phase(server, f"r{round_number}", args.requests, args)
                phases[server.name].append(phase)
        for server in targets:
            results[server.name] = summary(phases[server.name][1:])
        acknowledged = sum(phase.statuses[200] for phase in phases["inkbridge"])
        batching = group_commit_stats(inkbridge)
        # No graceful shutdown: what is on disk now is what an acknowledgement promised.
        inkbridge.process.send_signal(signal.SIGKILL)
        inkbridge.process.wait(timeout=30)
        rows = count_rows(database)

    ratio = results["inkbridge"]["throughput_rps"] / results["bare"]["throughput_rps"]
    # Independent of how fast the load client is: what one request costs each server.
    cpu_ratio = (
        results["bare"]["server_cpu_us_per_request"]
        / results["inkbridge"]["server_cpu_us_per_request"]
    )
    print_table(results, ratio, cpu_ratio)
    print(
        f"group commit: {batching['rows']:.0f} rows in {batching['commits']:.0f} commits "
        f"(mean batch {batching['mean_batch']})"
    )
    durable = rows == acknowledged
    print(f"durability: {acknowledged} acknowledged, {rows} rows after SIGKILL -> {durable}")

    record = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "bench/ingest.py", *sys.argv[1:]]),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            # Other work on the machine shows up here; the runs are only comparable when low.
            "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
            "cpu_busy_before_run": round(busy_before, 3),
        },
        "settings": {
            "requests": args.requests,
            "rounds": args.rounds,
            "warmup": args.warmup,
            "concurrency": args.concurrency,
            "clients": args.clients,
            "load_client": args.load_client,
            "uvicorn": f"--workers 1 --loop {event_loop_option()} --http httptools "
            "--log-level warning --no-access-log",
            "sqlite": "WAL, synchronous=FULL",
        },
        "results": results,
        "ratio_inkbridge_over_bare": round(ratio, 3),
        "cpu_per_request_ratio_bare_over_inkbridge": round(cpu_ratio, 3),
        "group_commit": batching,
        "durability": {"acknowledged": acknowledged, "rows": rows, "ok": durable},
    }
    RESULTS.mkdir(exist_ok=True)
    suffix = "" if args.load_client == "raw" else f"-{args.load_client}"
    path = RESULTS / f"ingest-{datetime.now(UTC).date().isoformat()}{suffix}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"results written to {path.relative_to(BENCH.parent)}")
    if not durable:
        raise SystemExit("an acknowledged webhook is missing from the database")


if __name__ == "__main__":
    main()
