"""The load client of the ingest benchmark (bench/ingest.py), run in its own processes: unique
webhooks signed by the official ``standardwebhooks`` package before the clock starts, sent by
a minimal keep-alive HTTP/1.1 client (or httpx.AsyncClient) at fixed concurrency."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from math import floor
from typing import Any

import httpx

from ingest_servers import SECRET


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
