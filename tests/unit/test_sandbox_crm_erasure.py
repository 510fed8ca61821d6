"""The sandbox CRM's erasure endpoint and the sandbox connector's erasure, in process: the
person's records are deleted once, the CRM's fault injection applies, and a repeated call
deletes nothing and still succeeds."""

from __future__ import annotations

import httpx
import pytest

from inkbridge.connectors.base import Change
from inkbridge.connectors.erasure import ErasingConnector
from inkbridge.connectors.sandbox_crm.connector import SandboxCrmConnector
from inkbridge.connectors.sandbox_crm.erasure import SandboxCrmErasure
from inkbridge.errors import RetryableError
from inkbridge.sandbox.crm import SandboxCrm, create_crm_app
from inkbridge.sandbox.crm_store import UpsertInput

LEAD = "lead_1"


def _erasure() -> Change:
    payload = {"lead": {"id": LEAD, "email": "ada@example.com"}}
    return Change(1, f"lead:{LEAD}", "lead.erased", f"lead:{LEAD}:erased", payload, None)


async def test_the_person_is_deleted_once_even_when_the_crm_fails_first() -> None:
    app = create_crm_app(None)
    crm: SandboxCrm = app.state.sandbox
    crm.store.upsert(
        [
            UpsertInput(f"lead:{LEAD}", {"email": "ada@example.com"}),
            UpsertInput("envelope:env_1", {"inkbridge_lead_id": LEAD, "email": "ada@example.com"}),
            UpsertInput("envelope:env_2", {"inkbridge_lead_id": "lead_2"}),
        ]
    )
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://crm")
    await client.post("/_faults", json={"mode": "error500", "count": 2})
    connector = ErasingConnector(
        SandboxCrmConnector("crm", "http://crm", client),
        SandboxCrmErasure("crm", "http://crm", client, {}),
    )

    for _ in range(2):
        with pytest.raises(RetryableError):
            await connector.apply([_erasure()])
    first = await connector.apply([_erasure()])

    assert first.results[0].ok
    assert [r["id"] for r in crm.store.records()] == ["envelope:env_2"]
    assert crm.store.writes(f"lead:{LEAD}") == []
    assert [(e["lead_id"], e["deleted"]) for e in crm.store.erasures()] == [(LEAD, 2)]

    again = await connector.apply([_erasure()])
    assert again.results[0].ok
    assert [e["deleted"] for e in crm.store.erasures()] == [2, 0]
