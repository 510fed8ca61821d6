"""Burst benchmark: N envelope lifecycles delivered to the HubSpot emulator enforcing 100
requests per 10 s. Reports whether the limit was ever exceeded, API calls per lifecycle, and
end-to-end freshness (webhook receipt → CRM write) p50/p95.

Everything runs as real processes over loopback: the HubSpot emulator, `inkbridge serve` on the
embedded default (SQLite), and this script as the provider sending signed webhooks.

    .venv/bin/python bench/crm_burst.py --lifecycles 10000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.builders import SECRET, event_body, signed  # noqa: E402
from tests.support.processes import INKBRIDGE, PYTHON, Process, cli, free_port, wait_http  # noqa: E402

STEPS = [
    ("document_sent", None),
    ("document_viewed", "1"),
    ("recipient_signed", "1"),
    ("document_completed", None),
]


def write_config(root: Path, port: int, hubspot_url: str, limit: int) -> Path:
    (root / "sandbox.secret").write_text(SECRET)
    (root / "hubspot.token").write_text("pat-emulator")
    config = root / "inkbridge.toml"
    config.write_text(
        f"""
data_dir = "{root / "data"}"
log_level = "warning"
journeys = []
[server]
port = {port}
[worker]
poll_interval_seconds = 0.05
batch_size = 200
[connections.sandbox]
provider = "standard_webhooks"
secrets = ["file:{root / "sandbox.secret"}"]
[destinations.hubspot]
kind = "hubspot"
url = "{hubspot_url}"
credentials = {{ token = "file:{root / "hubspot.token"}" }}
options = {{ owners = {{ "owner@example.com" = "101" }} }}
batch_size = 100
rate_limit_requests = {limit}
rate_limit_window_seconds = 10
rate_per_second = 100
max_attempts = 50
timeout_seconds = 20
"""
    )
    return config


async def capture_leads(base: str, token: str, count: int) -> list[str]:
    ids: list[str] = [""] * count
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)
    async with httpx.AsyncClient(
        base_url=base, timeout=60, headers={"Authorization": f"Bearer {token}"}
    ) as client:

        async def worker() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                answer = await client.post(
                    "/v1/leads",
                    json={
                        "email": f"burst{n}@example.com",
                        "owner": "owner@example.com",
                        "utm_source": "google",
                        "utm_medium": "cpc",
                        "utm_campaign": f"campaign-{n % 20}",
                    },
                )
                answer.raise_for_status()
                ids[n] = answer.json()["id"]

        await asyncio.gather(*(worker() for _ in range(16)))
    return ids


async def send_step(
    client: httpx.AsyncClient, leads: list[str], step: int, kind: str, recipient: str | None
) -> int:
    """Send one lifecycle step for every envelope, 16 at a time."""
    t0 = datetime.now(UTC) - timedelta(hours=1)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(len(leads)):
        queue.put_nowait(n)
    sent = 0

    async def worker() -> None:
        nonlocal sent
        while not queue.empty():
            n = queue.get_nowait()
            body = event_body(
                kind,
                f"sbx_burst_{n:05d}",
                t0 + timedelta(minutes=step),
                recipient,
                {"inkbridge_lead_id": leads[n]},
            )
            answer = await client.post("/v1/webhooks/sandbox", content=body, headers=signed(body))
            assert answer.status_code == 200, answer.text
            sent += 1

    await asyncio.gather(*(worker() for _ in range(16)))
    return sent


async def send_lifecycles(base: str, leads: list[str]) -> int:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        total = 0
        for step, (kind, recipient) in enumerate(STEPS):
            total += await send_step(client, leads, step, kind, recipient)
    return total


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[index]


def wait_drained(db: Path, expected_envelopes: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        with sqlite3.connect(db) as conn:
            completed = conn.execute(
                "SELECT COUNT(*) FROM envelopes WHERE state = 'completed'"
            ).fetchone()[0]
            open_receipts = conn.execute(
                "SELECT COUNT(*) FROM webhook_receipts"
                " WHERE status NOT IN ('done','ignored','failed')"
            ).fetchone()[0]
            busy = conn.execute(
                "SELECT COUNT(*) FROM outbox WHERE status IN ('pending','inflight')"
            ).fetchone()[0]
        if completed == expected_envelopes and open_receipts == 0 and busy == 0:
            return
        time.sleep(1.0)
    raise TimeoutError("the outbox did not drain in time")


def freshness(db: Path) -> list[float]:
    """Seconds from the receipt of the webhook that caused a state change to the CRM write
    that carried it (coalesced changes count from their own receipt to the shared write)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            """
            SELECT r.received_at, o.delivered_at
            FROM outbox o
            JOIN envelope_events e
              ON o.idempotency_key = 'envelope:' || e.envelope_id || ':state:' || e.to_state
             AND e.outcome = 'accepted'
            JOIN webhook_receipts r ON r.id = e.receipt_id
            WHERE o.kind = 'envelope.state_changed' AND o.delivered_at IS NOT NULL
            """
        ).fetchall()

    def parse(value: str) -> datetime:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)

    return [(parse(d) - parse(r)).total_seconds() for r, d in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lifecycles", type=int, default=10_000)
    parser.add_argument("--limit", type=int, default=100, help="HubSpot requests per 10 s")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="inkbridge-burst-"))
    print(f"working in {root}", file=sys.stderr)
    hub_port, port = free_port(), free_port()
    hubspot = Process(
        [
            PYTHON,
            "-m",
            "inkbridge_emulators.hubspot",
            "--port",
            str(hub_port),
            "--rate-limit-per-10s",
            str(args.limit),
        ],
        root / "hubspot.log",
    ).start()
    hub_url = f"http://127.0.0.1:{hub_port}"
    wait_http(hub_url + "/_state", proc=hubspot.proc)
    config = write_config(root, port, hub_url, args.limit)
    cli(["migrate", "--config", str(config)])
    token = cli(["tokens", "create", "--config", str(config), "--scope", "admin"]).strip()
    server = Process([*INKBRIDGE, "serve", "--config", str(config)], root / "serve.log").start()
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/healthz", proc=server.proc)
        started = time.monotonic()
        leads = asyncio.run(capture_leads(base, token, args.lifecycles))
        captured = time.monotonic()
        sent = asyncio.run(send_lifecycles(base, leads))
        delivered_by = time.monotonic()
        wait_drained(root / "data" / "default.db", args.lifecycles, time.monotonic() + 3600)
        drained = time.monotonic()
        state = httpx.get(hub_url + "/_state", timeout=120).json()
        fresh = freshness(root / "data" / "default.db")
    finally:
        server.stop()
        hubspot.stop()
    requests = state["requests"]
    total_calls = int(requests.get("total", requests.get("requests_total", 0)))
    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "bench/crm_burst.py " + " ".join(sys.argv[1:]),
        "machine": {
            "cpus": 2,
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "lifecycles": args.lifecycles,
        "webhooks_sent": sent,
        "rate_limit_per_10s": args.limit,
        "max_requests_in_any_10s_window": state["max_requests_in_window"],
        "hubspot_requests": requests,
        "api_calls_per_lifecycle": round(total_calls / args.lifecycles, 4),
        "freshness_seconds": {
            "changes": len(fresh),
            "p50": round(percentile(fresh, 0.50), 2),
            "p95": round(percentile(fresh, 0.95), 2),
            "max": round(max(fresh), 2),
            "mean": round(statistics.fmean(fresh), 2),
        },
        "durations_seconds": {
            "capture_leads": round(captured - started, 1),
            "send_webhooks": round(delivered_by - captured, 1),
            "drain_after_last_webhook": round(drained - delivered_by, 1),
        },
        "deals_in_hubspot": len(state.get("objects", {}).get("deals", {})),
    }
    out = ROOT / "bench" / "results" / f"crm-burst-{datetime.now(UTC).date()}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
