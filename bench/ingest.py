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

See bench/README.md for the recorded figures and how to read them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from math import floor
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # a throwaway benchmark secret
CONNECTION = "bench"  # as in ingest_app.py
TARGET_PATH = f"/v1/webhooks/{CONNECTION}"


# --- servers --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def event_loop_option() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process so far (every thread, writer included)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(name: str, module: str, env: dict[str, str]) -> Server:
    port = free_port()
    # Identical options for both targets; only the application differs.
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        f"{module}:app",
        "--app-dir",
        str(BENCH),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--loop",
        event_loop_option(),
        "--http",
        "httptools",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    process = subprocess.Popen(command, env={**os.environ, **env})
    server = Server(name, port, process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the {name} server exited with {process.returncode}")
        with contextlib.suppress(httpx.TransportError):
            httpx.get(server.url + "/", timeout=1)
            return server
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"the {name} server did not start within 30 s")


# --- load clients (separate processes) ------------------------------------------------------


def webhook(msg_id: str, now: datetime) -> tuple[bytes, dict[str, str]]:
    """One unique, signed delivery in inkbridge's event format, signed by the official package."""
    from standardwebhooks.webhooks import Webhook

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
        "webhook-id": msg_id,
        "webhook-timestamp": str(floor(now.timestamp())),
        "webhook-signature": Webhook(SECRET).sign(msg_id, now, body),
    }
    return body.encode(), headers


async def fire_httpx(
    url: str, requests: list[tuple[bytes, dict[str, str]]], concurrency: int
) -> tuple[list[float], Counter[int]]:
    """Send ``requests`` with httpx.AsyncClient over ``concurrency`` keep-alive connections."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    pending = iter(requests)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def one_connection(client: httpx.AsyncClient) -> None:
        for body, headers in pending:  # a shared iterator: each request is sent once
            started = time.perf_counter()
            try:
                response = await client.post(url, content=body, headers=headers)
                statuses[response.status_code] += 1
            except httpx.HTTPError:
                statuses[0] += 1
            latencies.append(time.perf_counter() - started)

    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        await asyncio.gather(*(one_connection(client) for _ in range(concurrency)))
    return latencies, statuses


def raw_request(url: str, body: bytes, headers: dict[str, str]) -> bytes:
    """The exact bytes of one HTTP/1.1 keep-alive POST."""
    parsed = httpx.URL(url)
    lines = [f"POST {parsed.raw_path.decode()} HTTP/1.1", f"host: {parsed.host}:{parsed.port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def fire_raw(
    url: str, requests: list[bytes], concurrency: int
) -> tuple[list[float], Counter[int]]:
    """Send pre-serialized HTTP/1.1 ``requests`` over ``concurrency`` keep-alive sockets.

    A minimal client (status line and Content-Length only, which both servers always send), so
    that the load generator costs a small fraction of what the servers under test cost.
    """
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    wire = iter(requests)
    parsed = httpx.URL(url)

    async def one_connection() -> None:
        reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
        try:
            for request in wire:  # a shared iterator: each request is sent once
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                at = head.lower().index(b"content-length:") + len(b"content-length:")
                await reader.readexactly(int(head[at : head.index(b"\r\n", at)]))
                latencies.append(time.perf_counter() - started)
                statuses[int(head[9:12])] += 1
        finally:
            writer.close()

    await asyncio.gather(*(one_connection() for _ in range(concurrency)))
    return latencies, statuses


LOAD_CLIENTS = ("raw", "httpx")


async def client_main(spec: dict[str, Any]) -> None:
    """Sign every request up front, then fire them when the driver says go, and report."""
    now, url = datetime.now(UTC), spec["url"]
    requests = [webhook(f"{spec['prefix']}-{n}", now) for n in range(spec["requests"])]
    wire = [raw_request(url, body, headers) for body, headers in requests]
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    cpu, started = time.process_time(), time.time()
    if spec["load_client"] == "raw":
        latencies, statuses = await fire_raw(url, wire, spec["concurrency"])
    else:
        latencies, statuses = await fire_httpx(url, requests, spec["concurrency"])
    report = {
        "started": started,
        "finished": time.time(),
        "cpu_seconds": time.process_time() - cpu,
        "latencies": latencies,
        "statuses": {str(code): count for code, count in statuses.items()},
    }
    print(json.dumps(report), flush=True)


def run_client(spec: dict[str, Any]) -> None:
    try:
        import uvloop

        uvloop.run(client_main(spec))
    except ImportError:
        asyncio.run(client_main(spec))


@dataclass
class Phase:
    """One burst of load against one server, as the clients and the server saw it."""

    requests: int
    seconds: float
    latencies: list[float]
    statuses: Counter[int]
    client_cpu_seconds: float
    server_cpu_seconds: float

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds


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


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def summary(rounds: list[Phase]) -> dict[str, Any]:
    """Median throughput over the rounds; latency percentiles over every measured request."""
    latencies = sorted(latency for phase in rounds for latency in phase.latencies)
    requests = sum(phase.requests for phase in rounds)
    statuses: Counter[int] = Counter()
    for phase in rounds:
        statuses.update(phase.statuses)
    return {
        "requests": requests,
        "throughput_rps": round(statistics.median(phase.throughput for phase in rounds), 1),
        "throughput_rps_per_round": [round(phase.throughput, 1) for phase in rounds],
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "statuses": {str(code): n for code, n in sorted(statuses.items())},
        "server_cpu_us_per_request": round(
            sum(phase.server_cpu_seconds for phase in rounds) / requests * 1e6, 1
        ),
        "client_cpu_us_per_request": round(
            sum(phase.client_cpu_seconds for phase in rounds) / requests * 1e6, 1
        ),
    }


def group_commit_stats(server: Server) -> dict[str, float]:
    text = httpx.get(server.url + "/metrics", timeout=5).text
    values: dict[str, float] = {}
    for line in text.splitlines():
        for name in ("count", "sum"):
            if line.startswith(f"inkbridge_group_commit_batch_rows_{name}"):
                values[name] = float(line.rsplit(" ", 1)[1])
    commits, rows = values.get("count", 0.0), values.get("sum", 0.0)
    return {
        "commits": commits,
        "rows": rows,
        "mean_batch": round(rows / commits, 2) if commits else 0,
    }


def count_rows(database: Path) -> int:
    with contextlib.closing(sqlite3.connect(database)) as conn:
        return int(conn.execute("SELECT count(*) FROM webhook_receipts").fetchone()[0])


@contextlib.contextmanager
def servers(workdir: Path) -> Iterator[tuple[Server, Server, Path]]:
    database = workdir / "inkbridge.db"
    inkbridge_env = {
        "INKBRIDGE_BENCH_DATABASE_URL": f"sqlite:///{database}",
        "INKBRIDGE_BENCH_SECRET": SECRET,
    }
    bare = start_server("bare", "bare_app", {})
    try:
        inkbridge = start_server("inkbridge", "ingest_app", inkbridge_env)
    except BaseException:
        bare.process.kill()
        raise
    try:
        yield bare, inkbridge, database
    finally:
        for server in (bare, inkbridge):
            if server.process.poll() is None:
                server.process.terminate()
                server.process.wait(timeout=30)


def machine_busy_fraction(seconds: float = 1.0) -> float:
    """How busy the CPUs were over ``seconds`` before the run (0 idle .. 1 saturated)."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields), idle

    total_before, idle_before = sample()
    time.sleep(seconds)
    total_after, idle_after = sample()
    elapsed = total_after - total_before
    return 1 - (idle_after - idle_before) / elapsed if elapsed else 0.0


def print_table(results: dict[str, dict[str, Any]], ratio: float, cpu_ratio: float) -> None:
    columns = ("throughput_rps", "p50_ms", "p99_ms", "server_cpu_us_per_request")
    print(f"\n{'target':<10}" + "".join(f"{c:>28}" for c in columns))
    for name, row in results.items():
        print(f"{name:<10}" + "".join(f"{row[c]:>28}" for c in columns))
    print(f"\nthroughput ratio inkbridge/bare: {ratio:.3f}")
    print(f"server CPU per request, bare/inkbridge: {cpu_ratio:.3f}")


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
