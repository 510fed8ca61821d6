"""The sandbox CRM emulator in process over httpx.ASGITransport: upserts, first-touch
properties, faults, its token bucket and its database file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from inkbridge.sandbox.crm import create_crm_app

from .support import crm_client


async def upsert(client: httpx.AsyncClient, *inputs: dict[str, Any]) -> httpx.Response:
    return await client.post("/records/batch/upsert", json={"inputs": list(inputs)})


async def test_upsert_creates_then_updates_a_record_and_logs_every_write(
    crm: httpx.AsyncClient,
) -> None:
    first = await upsert(crm, {"id": "r1", "properties": {"status": "sent"}, "facts": ["f1"]})
    second = await upsert(crm, {"id": "r1", "properties": {"status": "completed"}, "facts": ["f2"]})

    assert first.status_code == second.status_code == 200
    assert second.json()["status"] == "COMPLETE"
    assert second.json()["results"][0]["id"] == "r1"
    record = (await crm.get("/records/r1")).json()
    assert record["properties"] == {"status": "completed"}
    writes = (await crm.get("/writes")).json()["results"]
    assert [(w["record_id"], w["facts"]) for w in writes] == [("r1", ["f1"]), ("r1", ["f2"])]


async def test_first_touch_properties_are_written_once_and_never_overwritten(
    crm: httpx.AsyncClient,
) -> None:
    await upsert(crm, {"id": "r1", "properties": {"first_touch_utm_source": "", "owner": "a"}})
    await upsert(crm, {"id": "r1", "properties": {"first_touch_utm_source": "ads", "owner": "b"}})
    await upsert(crm, {"id": "r1", "properties": {"first_touch_utm_source": "tv", "owner": "c"}})

    props = (await crm.get("/records/r1")).json()["properties"]
    assert props == {"first_touch_utm_source": "ads", "owner": "c"}


async def test_more_than_100_inputs_is_refused_with_an_error_body(crm: httpx.AsyncClient) -> None:
    response = await upsert(crm, *({"id": f"r{i}", "properties": {}} for i in range(101)))

    assert response.status_code == 400
    assert response.json()["category"] == "VALIDATION_ERROR"
    assert (await crm.get("/records")).json()["total"] == 0


async def test_an_input_without_id_is_refused(crm: httpx.AsyncClient) -> None:
    response = await upsert(crm, {"properties": {"a": "b"}})

    assert response.status_code == 400
    assert "id" in response.json()["message"]


async def test_an_unknown_record_is_404_and_writes_filter_by_record(
    crm: httpx.AsyncClient,
) -> None:
    await upsert(crm, {"id": "r1", "properties": {}}, {"id": "r2", "properties": {}})

    assert (await crm.get("/records/nope")).status_code == 404
    only_r2 = (await crm.get("/writes", params={"record": "r2"})).json()["results"]
    assert [w["record_id"] for w in only_r2] == ["r2"]


async def test_reset_clears_records_writes_and_faults(crm: httpx.AsyncClient) -> None:
    await upsert(crm, {"id": "r1", "properties": {}})
    await crm.post("/_faults", json={"mode": "down"})

    await crm.delete("/_all")

    assert (await crm.get("/records")).json()["total"] == 0
    assert (await crm.get("/writes")).json()["total"] == 0
    assert (await upsert(crm, {"id": "r2", "properties": {}})).status_code == 200


async def test_an_error500_fault_hits_only_the_next_n_upserts(crm: httpx.AsyncClient) -> None:
    await crm.post("/_faults", json={"mode": "error500", "count": 2})

    statuses = [
        (await upsert(crm, {"id": f"r{i}", "properties": {}})).status_code for i in range(3)
    ]

    assert statuses == [500, 500, 200]
    assert (await crm.get("/records")).status_code == 200  # reads are never faulted
    assert [r["id"] for r in (await crm.get("/records")).json()["results"]] == ["r2"]
    assert (await crm.get("/_faults")).json()["mode"] == "ok"


async def test_a_rate_limit_fault_answers_429_with_retry_after(crm: httpx.AsyncClient) -> None:
    await crm.post("/_faults", json={"mode": "rate_limit", "count": 1, "retry_after": 7})

    response = await upsert(crm, {"id": "r1", "properties": {}})

    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"
    assert (await crm.get("/records")).json()["total"] == 0


async def test_down_answers_503_until_changed(crm: httpx.AsyncClient) -> None:
    await crm.post("/_faults", json={"mode": "down"})
    downs = [(await upsert(crm, {"id": "r1", "properties": {}})).status_code for _ in range(3)]
    await crm.post("/_faults", json={"mode": "ok"})

    assert downs == [503, 503, 503]
    assert (await upsert(crm, {"id": "r1", "properties": {}})).status_code == 200
    assert (await crm.get("/_stats")).json()["faulted_total"] == 3


async def test_a_slow_fault_delays_the_answer_but_still_writes(crm: httpx.AsyncClient) -> None:
    await crm.post("/_faults", json={"mode": "slow", "count": 1, "delay": 0.05})

    response = await upsert(crm, {"id": "r1", "properties": {"a": "1"}})

    assert response.status_code == 200
    assert (await crm.get("/records/r1")).json()["properties"] == {"a": "1"}


async def test_an_invalid_fault_mode_is_refused(crm: httpx.AsyncClient) -> None:
    response = await crm.post("/_faults", json={"mode": "explode"})

    assert response.status_code == 400


async def test_the_token_bucket_rejects_beyond_its_limit_and_counts_it() -> None:
    async with crm_client(create_crm_app(None, rate_limit_per_10s=3)) as client:
        statuses = [
            (await upsert(client, {"id": f"r{i}", "properties": {}})).status_code for i in range(5)
        ]
        stats = (await client.get("/_stats")).json()

    assert statuses == [200, 200, 200, 429, 429]
    assert stats["requests_total"] == 5
    assert stats["rejected_total"] == 2
    assert stats["max_seen_in_window"] == 5


async def test_the_limit_can_be_changed_at_runtime(crm: httpx.AsyncClient) -> None:
    await crm.post("/_limits", json={"rate_limit_per_10s": 1})

    first = await upsert(crm, {"id": "r1", "properties": {}})
    second = await upsert(crm, {"id": "r2", "properties": {}})

    assert (first.status_code, second.status_code) == (200, 429)
    assert int(second.headers["retry-after"]) >= 1


async def test_records_survive_reopening_the_database_file(tmp_path: Path) -> None:
    db = tmp_path / "crm.db"
    async with crm_client(create_crm_app(db)) as client:
        await upsert(client, {"id": "r1", "properties": {"a": "1"}, "facts": ["f1"]})

    async with crm_client(create_crm_app(db, kind="marketing")) as client:
        listing = (await client.get("/records")).json()
        writes = (await client.get("/writes")).json()

    assert listing["service"] == "sandbox-marketing"
    assert listing["results"][0]["properties"] == {"a": "1"}
    assert writes["results"][0]["facts"] == ["f1"]
