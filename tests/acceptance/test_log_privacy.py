"""A real ``inkbridge serve`` at log level info, taken through a capture, an envelope at the sandbox
provider and a CRM delivery, bad webhooks (a wrong signature, an unknown connection named by an
address, a signed one that cannot be read) and a failing CRM: everything it wrote holds neither
the person's address nor their name nor their phone number."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.acceptance.stack import (
    SANDBOX_CRM,
    Inkbridge,
    admin_token,
    base_config,
    poll_until,
    write_config,
)
from tests.support.builders import signed
from tests.support.processes import free_port

pytestmark = pytest.mark.slow

EMAIL = "Zebulonia.Quarrington@example.test"
FIRST, LAST = "Zebulonia", "Quarrington"
PHONE = "+44 20 7946 0958"


def _crm_records(stack: Inkbridge) -> list[dict[str, object]]:
    answer = stack.api.get("/sandbox/crm/records")
    records: list[dict[str, object]] = answer.json().get("results", [])
    return records


def test_nothing_a_serve_writes_names_the_person(tmp_path: Path) -> None:
    port = free_port()
    tree = base_config(tmp_path, port)
    tree["log_level"] = "info"
    tree["destinations"] = {"crm": SANDBOX_CRM}
    config = write_config(tmp_path, tree)
    stack = Inkbridge(root=tmp_path, port=port, token=admin_token(config))
    stack.serve(config)
    try:
        api = stack.api
        api.post("/sandbox/crm/_faults", json={"mode": "error500", "count": 2})
        lead = api.post(
            "/v1/leads",
            json={"email": EMAIL, "first_name": FIRST, "last_name": LAST},
        )
        assert lead.status_code == 201, lead.text
        envelope = api.post(
            "/v1/envelopes", json={"lead_id": lead.json()["id"], "template_key": "nda"}
        )
        assert envelope.status_code == 201, envelope.text
        poll_until(lambda: _crm_records(stack), "the lead's records at the CRM")

        hooks = f"{stack.base}/v1/webhooks"
        about_her = json.dumps(
            {"type": "document_sent", "data": {"recipient_email": EMAIL, "name": f"{FIRST}"}}
        ).encode()
        forged = {"content-type": "application/json", "webhook-id": "msg_x"}
        assert httpx.post(f"{hooks}/sandbox", content=about_her, headers=forged).status_code == 401
        assert httpx.post(f"{hooks}/{EMAIL}", content=about_her, headers=forged).status_code == 404
        unreadable = json.dumps(
            {
                "type": "document_sent",
                "timestamp": datetime.now(UTC).isoformat(),
                "data": {"recipient_email": EMAIL, "envelope_id": None, "phone": PHONE},
            }
        ).encode()
        headers = signed(unreadable, f"msg_{uuid.uuid4().hex}")
        assert httpx.post(f"{hooks}/sandbox", content=unreadable, headers=headers).is_success
        missing = api.get(f"/v1/leads/{EMAIL}")
        assert missing.status_code == 404
        poll_until(
            lambda: "receipt" in stack.log() and "webhook_rejected" in stack.log(),
            "the worker's and the hot path's lines",
        )
    finally:
        stack.stop()

    output = (tmp_path / "serve.log").read_text(errors="replace")
    lowered = output.lower()
    assert "webhook_rejected" in output and "sha256:" in output  # it did log, masked
    assert lowered.count(EMAIL.lower()) == 0
    assert lowered.count(FIRST.lower()) == 0
    assert lowered.count(LAST.lower()) == 0
    assert output.count("7946") == 0
