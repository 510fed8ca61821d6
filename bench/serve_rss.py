"""Resident memory of `inkbridge serve` at rest: the embedded default with no configuration (the
sandbox provider and CRM, SQLite in a fresh data directory), read from ``/proc`` once it answers
``/healthz`` and again after ``--settle`` seconds of idling (every thread, children included).
Twice: the first start, which creates and migrates the database, and a restart on the same
directory, whose schema is already current (how a deployed server starts).

    .venv/bin/python bench/serve_rss.py
    .venv/bin/python bench/serve_rss.py --during "bench/serve_ingest.py --deliveries 4000"

``--during`` instead runs a benchmark that starts its own `inkbridge serve` and samples that
process's resident memory every 0.1 s while it runs: the peak under a burst.

Writes ``bench/results/serve-rss-<date>.json`` (``serve-rss-burst-<date>.json`` with ``--during``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
INKBRIDGE = ROOT / ".venv" / "bin" / "inkbridge"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in children.read_text().split()] if children.exists() else []


def _rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` and of its children, in KiB."""
    total = 0
    for each in [pid, *_children(pid)]:
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def _serve_under(pid: int) -> int | None:
    """The `inkbridge serve` process among the descendants of ``pid``, if it runs yet."""
    for child in _children(pid):
        try:
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in argv:
            return child
        found = _serve_under(child)
        if found is not None:
            return found
    return None


def _peak_during(command: str) -> dict[str, object]:
    """Run ``command`` (a bench script that starts its own serve) and sample its serve's RSS."""
    argv = shlex.split(command)
    bench = subprocess.Popen([sys.executable, *argv], cwd=ROOT, stdout=subprocess.DEVNULL)
    samples: list[int] = []
    while bench.poll() is None:
        serve = _serve_under(bench.pid)
        if serve is not None:
            # It may exit between the look-up and the read.
            with contextlib.suppress(OSError, ValueError):
                samples.append(_rss_kib(serve))
        time.sleep(0.1)
    if bench.returncode != 0 or not samples:
        sys.exit(f"{command} failed (exit {bench.returncode}, {len(samples)} samples)")
    return {
        "during": command,
        "samples": len(samples),
        "rss_mib_first_sample": round(samples[0] / 1024, 1),
        "rss_mib_peak": round(max(samples) / 1024, 1),
    }


def _measure(work: str, settle: float) -> tuple[int, int]:
    """Start serve in ``work``, read its VmRSS when ready and after ``settle`` s, stop it."""
    port = _free_port()
    log = Path(work) / "serve.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [str(INKBRIDGE), "serve", "--port", str(port)],
            cwd=work,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit("serve did not start:\n" + log.read_text())
            time.sleep(0.2)
        ready = _rss_kib(proc.pid)
        time.sleep(settle)
        settled = _rss_kib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return ready, settled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=30.0)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--during", help="a bench script (and its options) that runs serve")
    args = parser.parse_args()
    if args.during:
        load_before = os.getloadavg()[0]
        burst = _peak_during(args.during)
        _write(
            {"benchmark": "serve_rss_burst", "load_average_1min_before": load_before, **burst},
            args.out,
            "serve-rss-burst",
        )
        return
    with tempfile.TemporaryDirectory() as work:
        first_ready, first_settled = _measure(work, args.settle)
        ready, settled = _measure(work, args.settle)
    record = {
        "benchmark": "serve_rss",
        "first_start_rss_mib_when_ready": round(first_ready / 1024, 1),
        "first_start_rss_mib_at_rest": round(first_settled / 1024, 1),
        "rss_mib_when_ready": round(ready / 1024, 1),
        "rss_mib_at_rest": round(settled / 1024, 1),
        "settle_seconds": args.settle,
    }
    _write(record, args.out, "serve-rss")


def _write(record: dict[str, object], out: Path | None, name: str) -> None:
    record = {
        **record,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "load_average_1min": os.getloadavg()[0],
    }
    print(json.dumps(record))
    out = out or ROOT / "bench" / "results" / f"{name}-{datetime.now(UTC):%Y-%m-%d}.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
