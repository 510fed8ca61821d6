"""``inkbridge golive`` and its test mark against a real ``inkbridge serve``: a plain outbound
webhook receives golive's records marked ``"test": true``; a webhook destination with
``golive_twin = "sandbox"`` receives none of them (its twin does) while a person's change still
reaches it, unmarked; the ``test-marks`` row says so per destination. Negative control: a
sandbox CRM that drops the mark fails the row, naming the destination."""

from __future__ import annotations

import base64
import secrets
import time
from pathlib import Path

import pytest

from tests.acceptance.destination_vendors import Receiver
from tests.acceptance.golive_target import golive_target
from tests.acceptance.stack import secret_ref
from tests.support.served import serve

pytestmark = pytest.mark.slow

RUN = ("--only", "duplicates", "--only", "test-marks", "--only", "clean-up")


def _webhook(name: str, url: str, ref: str, **extra: str) -> dict[str, str]:
    """``golive_target`` settings of an outbound webhook destination ``name``."""
    keys = {"kind": "webhook", "url": f"{url}/hooks", "secret": ref, **extra}
    return {f"destinations__{name}__{key}": value for key, value in keys.items()}


def test_a_webhook_receives_golives_records_marked_and_a_twinned_one_none(
    tmp_path: Path,
) -> None:
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    ref = secret_ref(tmp_path, "hook.secret", secret)
    plain, twinned = Receiver(secret), Receiver(secret)
    with serve(plain.app()) as plain_url, serve(twinned.app()) as twinned_url:
        events = '["envelope.state_changed", "lead.updated"]'
        settings = {
            **_webhook("hook", plain_url, ref),
            **_webhook("vendor", twinned_url, ref, golive_twin="sandbox", events=events),
        }
        with golive_target(tmp_path, **settings) as running:
            code, rows, output = running.golive_signed(*RUN)
            with running.admin_client() as admin:
                person = admin.post("/v1/leads", json={"email": "ada@example.com"}).json()
                admin.patch(f"/v1/leads/{person['id']}", json={"owner": "grace"})
            deadline = time.monotonic() + 30
            while not twinned.received() and time.monotonic() < deadline:
                time.sleep(0.1)
    assert code == 0, output
    row = rows["test-marks"]
    assert row["outcome"] == "pass"
    found = row["evidence"]["destinations"]
    assert found["vendor"]["replaced_by"] == "sandbox twin"
    assert found["vendor"]["writes"] == found["vendor"]["test_marked"] > 0
    assert found["crm"]["writes"] == found["crm"]["test_marked"] > 0
    assert found["hook"]["write_log"] == "not readable"
    assert "unverified: hook" in row["detail"]
    # The plain webhook got golive's records, each marked; the twinned one only the person's.
    golive_records = plain.received()
    assert golive_records and all(r.data.get("test") is True for r in golive_records)
    assert [(r.type, r.data["lead"]["id"]) for r in twinned.received()] == [
        ("lead.updated", person["id"])
    ]
    assert "test" not in twinned.received()[0].data


def test_a_destination_dropping_the_mark_fails_the_test_marks_check(tmp_path: Path) -> None:
    with golive_target(tmp_path) as running:
        with running.admin_client() as admin:
            answer = admin.post("/sandbox/crm/_defects", json={"drop_test_mark": True})
        assert answer.status_code == 200, answer.text
        code, rows, _ = running.golive_signed(*RUN)
    failing = rows["test-marks"]
    assert code == 1
    assert failing["outcome"] == "fail"
    crm = failing["evidence"]["destinations"]["crm"]
    assert crm["writes"] > 0 and crm["test_marked"] == 0
    assert (
        f"crm received {crm['writes']} of {crm['writes']} writes without the test mark"
        in (failing["detail"])
    )
    assert "marketing" not in failing["detail"]
    assert rows["clean-up"]["outcome"] == "pass"
