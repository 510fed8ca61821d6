"""End to end: signed webhooks in, state changes out to the sandbox CRM, measured as a user would
run it, side by side with a bare ASGI endpoint in the same run.

Setups (``--setups``): ``serve`` (one `inkbridge serve`, SQLite, synchronous=FULL) and ``pgK``
(PostgreSQL, `inkbridge api` + K `inkbridge worker` processes). Each gets a fresh database and
its own sandbox CRM process. Two modes:

- closed loop (default): N lifecycles (sent, viewed, signed, completed: 4 signed webhooks each)
  from ``--concurrency`` keep-alive connections; reports acknowledged/s, processed end to end/s
  (events / time until every envelope is completed, every receipt settled, the outbox empty),
  freshness (receipt -> CRM write) and acknowledgement latency;
- open loop (``--rate R``): R events/s offered on a fixed schedule for ``--seconds`` (latency
  counted from each request's scheduled time, so a stalled server cannot hide its queue).

Every run checks that no change reached the CRM twice and that every accepted change did.

    .venv/bin/python bench/e2e.py --lifecycles 2500                     # the issue's table
    .venv/bin/python bench/e2e.py --setups serve --rate 1000 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
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

from tests.support.builders import event_body, signed  # noqa: E402

from e2e_stack import Setup, pg_stats  # noqa: E402
from ingest_load import fire_raw, raw_request  # noqa: E402
from ingest_servers import start_server  # noqa: E402
from serve_ingest import STEPS  # noqa: E402  (one lifecycle: sent, viewed, signed, completed)


def lifecycle_wire(url: str, lifecycles: int, tag: str) -> list[bytes]:
    """Every delivery signed and serialized before the clock starts, lifecycle by lifecycle."""
    t0 = datetime.now(UTC) - timedelta(hours=1)
    wire = []
    for n in range(lifecycles):
        for minute, (kind, recipient) in enumerate(STEPS):
            body = event_body(kind, f"e2e_{tag}_{n:06d}", t0 + timedelta(minutes=minute), recipient)
            wire.append(raw_request(url, body, signed(body)))
    return wire


async def fire_open(
    url: str, requests: list[bytes], rate: float, connections: int
) -> tuple[list[float], Counter[int]]:
    """Send request i at start + i / rate over a pool of keep-alive sockets; latency is counted
    from the scheduled time (a request that waits for a free socket waits on the clock)."""
    import httpx

    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    parsed = httpx.URL(url)
    schedule = iter(enumerate(requests))
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2

    async def one_connection() -> None:
        reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
        try:
            for index, request in schedule:
                due = start + index / rate
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                at = head.lower().index(b"content-length:") + len(b"content-length:")
                await reader.readexactly(int(head[at : head.index(b"\r\n", at)]))
                latencies.append(loop.time() - due)
                statuses[int(head[9:12])] += 1
        finally:
            writer.close()

    await asyncio.gather(*(one_connection() for _ in range(connections)))
    return latencies, statuses


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))] if ordered else 0.0


def bare_requests_per_s(wire: list[bytes], concurrency: int) -> float:
    """The bare ASGI endpoint's requests/s for the same requests (best of 2 rounds)."""
    server = start_server("bare", "bare_app", {})
    try:
        url = server.url + "/v1/webhooks/sandbox"
        best = 0.0
        for _ in range(2):
            started = time.monotonic()
            _, statuses = asyncio.run(fire_raw(url, wire, concurrency))
            best = max(best, len(wire) / (time.monotonic() - started))
            assert set(statuses) == {200}
        return best
    finally:
        server.process.terminate()
        server.process.wait(timeout=30)


def wait_done(setup: Setup, total: int, lifecycles: int, limit: float) -> float:
    """Monotonic time at which every receipt is settled, the outbox is empty and every
    envelope is completed."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        settled, open_, busy = setup.progress()
        drained = settled >= total and open_ == 0 and busy == 0
        if drained and setup.completed_envelopes() == lifecycles:
            return time.monotonic()
        time.sleep(0.1)
    raise TimeoutError(f"{setup.name}: not drained after {limit:.0f} s")


def run_setup(args: argparse.Namespace, workers: int, work: Path) -> dict[str, Any]:
    setup = Setup(work / (f"pg{workers}" if workers else "serve"), workers, batch=args.batch_size)
    try:
        setup.start()
        lifecycles = int(args.rate * args.seconds) // 4 if args.rate else args.lifecycles
        wire = lifecycle_wire(setup.url, lifecycles, setup.name.replace("+", "_").replace("-", "_"))
        bare = bare_requests_per_s(wire[: min(len(wire), 20_000)], args.concurrency)
        time.sleep(1.0)  # let the workers settle after start-up
        spy = start_profile(setup, args.profile)
        cpu_before, pg_before = setup.cpu(), pg_stats() if workers else None
        load_before = os.getloadavg()[0]
        started = time.monotonic()
        if args.rate:
            latencies, statuses = asyncio.run(
                fire_open(setup.url, wire, args.rate, args.connections)
            )
        else:
            latencies, statuses = asyncio.run(fire_raw(setup.url, wire, args.concurrency))
        sent = time.monotonic()
        settled_during = setup.progress()[0]
        done = wait_done(setup, len(wire), lifecycles, args.timeout)
        cpu_after = setup.cpu()
        stop_profile(spy)
        time.sleep(0.6)  # PostgreSQL publishes its counters with a short delay
        pg_after = pg_stats() if workers else None
        queued, written = setup.freshness_split()
        fresh = [q + w for q, w in zip(queued, written, strict=True)]
        facts, accepted = setup.crm_facts(), setup.accepted_changes()
        crm_requests = setup.crm_requests()
    finally:
        setup.stop()
    total = len(wire)
    burst = sent - started
    result: dict[str, Any] = {
        "setup": setup.name,
        "mode": f"open loop, {args.rate:g} events/s offered" if args.rate else "closed loop",
        "lifecycles": lifecycles,
        "events": total,
        "statuses": {str(k): v for k, v in statuses.items()},
        "acknowledged_per_s": round(total / burst, 1),
        "processed_end_to_end_per_s": round(total / (done - started), 1),
        "settled_per_s_during_burst": round(settled_during / burst, 1),
        "all_completed_after_s": round(done - started, 2),
        "ack_ms": {
            "p50": round(percentile(latencies, 0.5) * 1000, 2),
            "p99": round(percentile(latencies, 0.99) * 1000, 2),
            "max": round(max(latencies) * 1000, 2),
        },
        "freshness_s": {
            "changes": len(fresh),
            "p50": round(percentile(fresh, 0.5), 3),
            "p95": round(percentile(fresh, 0.95), 3),
            "max": round(max(fresh, default=0.0), 3),
            # The two parts: receipt -> outbox row (processing), outbox row -> CRM (delivery).
            "queued_p50_p95": [round(percentile(queued, q), 3) for q in (0.5, 0.95)],
            "delivered_p50_p95": [round(percentile(written, q), 3) for q in (0.5, 0.95)],
        },
        "bare_requests_per_s": round(bare, 1),
        "ratio_processed_to_bare": round(total / (done - started) / bare, 4),
        "crm": {
            "facts_written": len(facts),
            "distinct_facts": len(set(facts)),
            "accepted_changes": accepted,
            "upsert_requests": crm_requests,
        },
        "cpu_seconds_per_event_ms": {
            name: round((cpu_after[name] - cpu_before.get(name, 0.0)) / total * 1000, 3)
            for name in cpu_after
        },
        "load_average_1min_before": load_before,
    }
    if pg_before and pg_after:
        result["postgres_per_event"] = {
            name: round((pg_after[name] - pg_before[name]) / total, 2) for name in pg_after
        }
    return result


def start_profile(setup: Setup, path: str) -> subprocess.Popen[bytes] | None:
    """``--profile``: py-spy samples the first inkbridge process (``serve`` or ``api``), every
    thread, from before the burst until all is delivered (collapsed stacks, thread named)."""
    if not path:
        return None
    pid = next(p.proc.pid for n, p in setup.processes.items() if n != "crm" and p.proc)
    spy = BENCH.parent / ".venv" / "bin" / "py-spy"
    command = [str(spy), "record", "--pid", str(pid), "--threads", "-r", "200", "-f", "raw"]
    process = subprocess.Popen([*command, "--nonblocking", "-o", path])
    time.sleep(1.0)  # py-spy attaches
    return process


def stop_profile(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


def check(result: dict[str, Any]) -> list[str]:
    problems = []
    if set(result["statuses"]) != {"200"}:
        problems.append(f"{result['setup']}: not every delivery acknowledged {result['statuses']}")
    crm = result["crm"]
    if crm["facts_written"] != crm["distinct_facts"]:
        problems.append(f"{result['setup']}: a change reached the CRM twice")
    if crm["distinct_facts"] != crm["accepted_changes"]:
        problems.append(f"{result['setup']}: accepted changes missing from the CRM")
    return problems


def git_head() -> str:
    return subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--setups", default="serve,pg1,pg2,pg4")
    parser.add_argument("--lifecycles", type=int, default=2500)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=0.0, help="open loop: events/s offered")
    parser.add_argument("--seconds", type=float, default=20.0, help="open loop: how long")
    parser.add_argument("--connections", type=int, default=64, help="open loop: sockets")
    parser.add_argument("--batch-size", type=int, default=50, help="[worker] batch_size")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument("--label", default="", help="appended to the result file's name")
    parser.add_argument("--profile", default="", help="py-spy's collapsed stacks of serve/api")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="inkbridge-e2e-"))
    print(f"working in {work}", file=sys.stderr)
    results = []
    for name in args.setups.split(","):
        workers = 0 if name == "serve" else int(name.removeprefix("pg"))
        result = run_setup(args, workers, work)
        print(json.dumps(result, indent=2), flush=True)
        results.append(result)
    record = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "bench/e2e.py " + " ".join(sys.argv[1:]),
        "code": git_head(),
        # Set when an older checkout's src/ is measured with this driver.
        "pythonpath": os.environ.get("PYTHONPATH"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "results": results,
    }
    suffix = f"-{args.label}" if args.label else ""
    out = BENCH / "results" / f"e2e-{datetime.now(UTC):%Y-%m-%d}{suffix}.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"results written to {out.relative_to(ROOT)}")
    problems = [p for r in results for p in check(r)]
    if problems:
        raise SystemExit("\n".join(problems))


if __name__ == "__main__":
    main()
