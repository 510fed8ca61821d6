"""The sandbox CRM's defects on request (``POST /_defects``): a refused write, double writes,
an early status taken as signed; and which destinations a deployment may mark faultable."""

from __future__ import annotations

import httpx
import pytest
from pydantic import ValidationError

from inkbridge.config import DestinationSettings


async def upsert(client: httpx.AsyncClient, status: str) -> httpx.Response:
    body = {"inputs": [{"id": "r1", "properties": {"inkbridge_status": status}, "facts": ["f"]}]}
    return await client.post("/records/batch/upsert", json=body)


async def test_a_refused_write_is_a_permanent_error_that_writes_nothing_then_clears(
    crm: httpx.AsyncClient,
) -> None:
    await crm.post("/_defects", json={"reject_next": 1})
    refused = await upsert(crm, "sent")
    accepted = await upsert(crm, "sent")
    assert refused.status_code == 400
    assert refused.json()["category"] == "VALIDATION_ERROR"
    assert accepted.status_code == 200
    assert len((await crm.get("/writes")).json()["results"]) == 1
    assert (await crm.get("/_stats")).json()["faulted_total"] == 1


async def test_a_double_writing_crm_logs_every_input_twice(crm: httpx.AsyncClient) -> None:
    await crm.post("/_defects", json={"write_twice": True})
    await upsert(crm, "viewed")
    writes = (await crm.get("/writes")).json()["results"]
    assert [w["facts"] for w in writes] == [["f"], ["f"]]


async def test_a_crm_advancing_early_holds_viewed_as_completed(crm: httpx.AsyncClient) -> None:
    await crm.post("/_defects", json={"signed_on": ["viewed"]})
    await upsert(crm, "viewed")
    record = (await crm.get("/records/r1")).json()
    assert record["properties"]["inkbridge_status"] == "completed"
    await crm.delete("/_all")
    assert (await crm.get("/_defects")).json() == {
        "reject_next": 0,
        "write_twice": False,
        "signed_on": [],
        "drop_test_mark": False,
    }


async def test_an_unknown_defect_is_refused(crm: httpx.AsyncClient) -> None:
    answer = await crm.post("/_defects", json={"write_thrice": True})
    assert answer.status_code == 400


def test_only_a_sandbox_destination_may_be_marked_faultable() -> None:
    assert DestinationSettings(kind="sandbox_crm", golive_may_fault=True).golive_may_fault
    with pytest.raises(ValidationError, match="only a sandbox destination"):
        DestinationSettings(kind="hubspot", golive_may_fault=True)
