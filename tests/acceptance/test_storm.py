"""A storm: 1,000 sandbox deliveries for 100 envelopes, 30 % duplicates, shuffled, sent
concurrently. Every envelope must end in its correct state and every state change must reach the
CRM in exactly one write."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta

import httpx

from tests.acceptance.conftest import Stack, crm_writes
from tests.support.builders import event_body, signed

T0 = datetime.now(UTC) - timedelta(hours=1)
# (event, recipient, minute); the terminal is chosen per envelope.
COMMON = [
    ("document_sent", None, 0),
    ("reminder_sent", None, 10),
    ("document_viewed", "1", 20),
    ("document_viewed", "1", 25),
    ("recipient_signed", "1", 30),
    ("document_viewed", "1", 50),
]
TERMINALS = ["document_completed"] * 7 + [
    "document_declined",
    "document_voided",
    "document_expired",
]
FINAL = {
    "document_completed": "completed",
    "document_declined": "declined",
    "document_voided": "voided",
    "document_expired": "expired",
}


def _deliveries(leads: list[str]) -> tuple[list[tuple[dict[str, str], bytes]], dict[str, str]]:
    rng = random.Random(2026)
    unique: list[tuple[dict[str, str], bytes]] = []
    expected: dict[str, str] = {}
    for n, lead_id in enumerate(leads):
        ref = f"sbx_storm_{n:03d}"
        terminal = TERMINALS[n % len(TERMINALS)]
        expected[ref] = FINAL[terminal]
        for kind, rec, minute in [*COMMON, (terminal, None, 40)]:
            body = event_body(
                kind,
                ref,
                T0 + timedelta(minutes=minute),
                rec,
                metadata={"inkbridge_lead_id": lead_id},
            )
            unique.append((signed(body), body))
    duplicates = rng.sample(unique, 300)
    everything = unique[:700] + duplicates
    rng.shuffle(everything)
    return everything, expected


async def _send_all(base: str, deliveries: list[tuple[dict[str, str], bytes]]) -> list[int]:
    statuses: list[int] = []
    queue: asyncio.Queue[tuple[dict[str, str], bytes]] = asyncio.Queue()
    for item in deliveries:
        queue.put_nowait(item)
    async with httpx.AsyncClient(base_url=base, timeout=30.0) as client:

        async def sender() -> None:
            while not queue.empty():
                headers, body = queue.get_nowait()
                # Fresh timestamp per attempt, same webhook-id: as a retrying provider does.
                headers = {**signed(body, headers["webhook-id"])}
                answer = await client.post("/v1/webhooks/sandbox", content=body, headers=headers)
                statuses.append(answer.status_code)

        await asyncio.gather(*(sender() for _ in range(16)))
    return statuses


def test_a_storm_of_duplicated_shuffled_deliveries_converges_with_one_crm_write_per_change(
    stack: Stack,
) -> None:
    with stack.client() as api:
        leads = [
            api.post(
                "/v1/leads",
                json={"email": f"storm{n}@example.com", "utm_campaign": f"camp-{n % 5}"},
            ).json()["id"]
            for n in range(100)
        ]
    deliveries, expected = _deliveries(leads)
    assert len(deliveries) == 1000
    statuses = asyncio.run(_send_all(stack.base, deliveries))
    assert statuses.count(200) == 1000

    deadline = time.monotonic() + 90
    with stack.client() as api:
        while True:
            views = {
                ref: api.get("/v1/envelopes", params={"provider_envelope_id": ref}).json()[
                    "envelopes"
                ]
                for ref in expected
            }
            done = all(v and v[0]["state"] == expected[r] for r, v in views.items())
            pending = any(
                d["status"] in ("pending", "inflight")
                for v in views.values()
                for d in (v[0]["deliveries"] if v else [])
            )
            if done and not pending:
                break
            assert time.monotonic() < deadline, "storm did not settle in time"
            time.sleep(0.5)

    state_facts: set[str] = set()
    for ref, found in views.items():
        (view,) = found  # exactly one envelope per provider id, despite 30 % duplicates
        assert view["state"] == expected[ref]
        accepted = [e for e in view["timeline"] if e["outcome"] == "accepted"]
        entered = [e["to_state"] for e in accepted]
        assert len(entered) == len(set(entered))
        state_facts |= {f"envelope:{view['id']}:state:{s}" for s in entered}
        assert view["lead_id"] in leads

    writes = crm_writes(stack.base + "/sandbox/crm", stack.headers)
    written = [fact for w in writes for fact in w["facts"]]  # type: ignore[union-attr]
    assert len(written) == len(set(written)), "a fact reached the CRM twice"
    assert {f for f in written if ":state:" in f} == state_facts
    # Journey rules ride along: one task per declined envelope, nothing else.
    tasks = {f for f in written if f.endswith(":journey:declined_task")}
    assert len(tasks) == sum(1 for state in expected.values() if state == "declined")
    records = httpx.get(
        stack.base + "/sandbox/crm/records", params={"limit": 500}, headers=stack.headers
    ).json()
    final = {
        r["properties"]["inkbridge_provider_envelope_id"]: r["properties"]["inkbridge_status"]
        for r in records["results"]
        if r["id"].startswith("envelope:")
    }
    assert final == expected
