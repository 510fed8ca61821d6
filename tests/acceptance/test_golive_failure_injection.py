"""``inkbridge golive``'s failure injection and downstream duplicate count against a real
``inkbridge serve``: with the sandbox CRM marked ``golive_may_fault`` it is made to fail with
5xx, 429, timeouts and a refused write, and every change still arrives in order, the dead letter
replayed once; without the mark the check is not applicable and the deployment refuses to fault
anything; the golive controls show only test leads' writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.acceptance.golive_target import GoliveTarget, golive_target

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def faultable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GoliveTarget]:
    root = tmp_path_factory.mktemp("golive-faults")
    with golive_target(root, destinations__crm__golive_may_fault="true") as running:
        yield running


def test_a_failing_destination_loses_nothing_keeps_order_and_replays_its_dead_letter_once(
    faultable: GoliveTarget,
) -> None:
    code, rows, _ = faultable.golive_signed(
        *("--only", "failure-injection", "--only", "duplicates", "--only", "clean-up")
    )
    row = rows["failure-injection"]
    assert code == 0, rows
    assert row["outcome"] == "pass", row
    evidence = row["evidence"]
    assert evidence["destination"] == "crm"
    assert evidence["replayed"] == [evidence["dead_letter"]]
    # 2 x 500, 2 x 429, 1 timeout and the refused write: each reached the sandbox CRM.
    assert evidence["faulted_requests"] >= 6
    # Each faulted request carried at least one change, and some change was tried again; how
    # the faults fall across the changes depends on how the worker batched them.
    attempts = evidence["attempts"]
    assert set(attempts) == {"sent", "viewed", "partially_signed", "completed"}
    assert sum(attempts.values()) >= evidence["faulted_requests"]
    assert max(attempts.values()) >= 2
    duplicates = rows["duplicates[sandbox]"]
    assert duplicates["outcome"] == "pass", duplicates
    assert duplicates["evidence"]["downstream_writes"] == {"crm": 1, "marketing": 1}
    assert rows["clean-up"]["outcome"] == "pass"
    # golive left no fault behind.
    with faultable.admin_client() as admin:
        assert admin.get("/sandbox/crm/_faults").json()["mode"] == "ok"
        assert admin.get("/sandbox/crm/_defects").json()["reject_next"] == 0
        crm_writes = admin.get("/sandbox/crm/writes").json()["results"]
    assert crm_writes == []  # the clean-up erased the test lead's records there too


def test_a_destination_not_marked_faultable_is_never_faulted(tmp_path: Path) -> None:
    with golive_target(tmp_path) as running:
        code, rows, _ = running.golive_signed("--only", "failure-injection")
        with running.golive_client() as client:
            refused = client.post(
                "/v1/admin/golive/faults", json={"destination": "crm", "mode": "error500"}
            )
        with running.admin_client() as admin:
            plan = admin.get("/sandbox/crm/_faults").json()
    assert code == 0
    row = rows["failure-injection"]
    assert row["outcome"] == "not applicable"
    assert "golive_may_fault" in str(row["detail"])
    assert refused.status_code == 403
    assert "golive_may_fault" in refused.json()["detail"]
    assert plan["mode"] == "ok"


def test_the_golive_controls_show_no_write_of_a_lead_outside_the_test_namespace(
    faultable: GoliveTarget,
) -> None:
    with faultable.admin_client() as admin:
        person = admin.post("/v1/leads", json={"email": "ada@example.com"}).json()
    with faultable.golive_client() as client:
        writes = client.get(
            "/v1/admin/golive/writes", params={"destination": "crm", "lead_id": person["id"]}
        )
        replay = client.post("/v1/admin/golive/dead-letters/replay", json={"lead_id": person["id"]})
    assert writes.status_code == 403
    assert replay.status_code == 403
