"""What the ingest benchmark (bench/ingest.py) measures and prints: one phase of load as the
clients and the server saw it, the summary of the rounds, how busy the machine was, and the
table."""

from __future__ import annotations

import statistics
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any


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
