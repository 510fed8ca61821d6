"""The sandbox CRM connector against the sandbox CRM emulator, in process: the mapping of
changes to records, batches, coalesced facts and the classification of failures."""

from __future__ import annotations

import dataclasses
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from inkbridge.connectors.base import Change
from inkbridge.connectors.sandbox_crm.connector import SandboxCrmConnector, record_properties
from inkbridge.errors import ConfigError, PermanentError, RetryableError
from inkbridge.sandbox.crm import SandboxCrm
from tests.unit.connectors.payloads import first_touch


def payload(
    state: str = "completed",
    *,
    utm_source: str = "newsletter",
    milestones: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "event": {
            "kind": "envelope.state_changed",
            "fact_key": f"envelope:env_1:state:{state}",
            "from": "sent",
            "to": state,
            "occurred_at": "2024-05-01T10:00:00+00:00",
        },
        "envelope": {
            "id": "env_1",
            "state": state,
            "provider": "sandbox",
            "provider_envelope_id": "sbx_abc",
            "template_key": "nda",
            "template_version": 2,
            "milestones": milestones
            or {
                "sent_at": "2024-05-01T09:00:00+00:00",
                "completed_at": "2024-05-01T10:00:00+00:00",
            },
            "delivery_failed": False,
            "lead_id": "lead_1",
        },
        "lead": {
            "id": "lead_1",
            "email": "ada@example.test",
            "owner": "owner-7",
            "first_touch": first_touch(utm_source),
        },
        "correlation_id": "corr-1",
    }


def change(
    outbox_id: int, record_key: str = "envelope:env_1", state: str = "completed", **kw: Any
) -> Change:
    return Change(
        outbox_id=outbox_id,
        record_key=record_key,
        kind="envelope.state_changed",
        idempotency_key=f"envelope:env_1:state:{state}:{outbox_id}",
        payload=payload(state, **kw),
        correlation_id="corr-1",
    )


def test_a_change_maps_to_inkbridge_and_first_touch_properties() -> None:
    props = record_properties(change(1))

    assert props == {
        "inkbridge_last_fact": "envelope:env_1:state:completed:1",
        "inkbridge_status": "completed",
        "inkbridge_envelope_id": "env_1",
        "inkbridge_provider": "sandbox",
        "inkbridge_provider_envelope_id": "sbx_abc",
        "inkbridge_template": "nda",
        "inkbridge_template_version": "2",
        "inkbridge_delivery_failed": "false",
        "inkbridge_correlation_id": "corr-1",
        "inkbridge_lead_id": "lead_1",
        "inkbridge_sent_at": "2024-05-01T09:00:00+00:00",
        "inkbridge_completed_at": "2024-05-01T10:00:00+00:00",
        "email": "ada@example.test",
        "owner": "owner-7",
        "first_touch_utm_source": "newsletter",
        "first_touch_utm_medium": "email",
        "first_touch_utm_campaign": "spring",
        "first_touch_utm_content": "hero",
        "first_touch_referrer": "https://news.example.test/",
        "first_touch_landing_page": "https://inkbridge.example.test/nda",
        "first_touch_at": "2024-04-30T08:00:00+00:00",
        "first_touch_gclid": "g-123",
    }


def test_a_change_without_a_lead_still_maps_the_envelope() -> None:
    base = change(1)
    sparse = Change(
        outbox_id=1,
        record_key="envelope:env_1",
        kind=base.kind,
        idempotency_key="k",
        payload={**base.payload, "lead": None},
        correlation_id=None,
    )

    props = record_properties(sparse)

    assert props["inkbridge_status"] == "completed"
    assert props["inkbridge_correlation_id"] == "corr-1"
    assert not any(key.startswith("first_touch_") for key in props)
    assert "email" not in props


async def test_the_connector_upserts_a_batch_in_one_request(
    crm_app: Starlette, crm: httpx.AsyncClient
) -> None:
    app_state: SandboxCrm = crm_app.state.sandbox
    connector = SandboxCrmConnector("crm", "http://crm", crm)
    changes = [change(1, "envelope:env_1"), change(2, "envelope:env_2"), change(3, "lead:lead_1")]

    result = await connector.apply(changes)

    assert [r.ok for r in result.results] == [True, True, True]
    assert [r.outbox_id for r in result.results] == [1, 2, 3]
    assert app_state.throttle.requests_total == 1
    stored = app_state.store.record("envelope:env_2")
    assert stored is not None
    assert stored["properties"]["inkbridge_status"] == "completed"
    assert app_state.store.writes("lead:lead_1")[0]["facts"] == [changes[2].idempotency_key]


async def test_an_uncertain_change_that_already_landed_is_not_written_again(
    crm_app: Starlette, crm: httpx.AsyncClient
) -> None:
    app_state: SandboxCrm = crm_app.state.sandbox
    connector = SandboxCrmConnector("crm", "http://crm", crm)
    first = change(1)
    await connector.apply([first])  # the write landed, but say its answer was lost in a crash
    again = dataclasses.replace(first, uncertain=True)
    newer = dataclasses.replace(change(2, state="declined"), uncertain=True)

    result = await connector.apply([again])
    assert [r.ok for r in result.results] == [True]
    assert len(app_state.store.writes("envelope:env_1")) == 1
    await connector.apply([newer])  # uncertain but never landed: written
    assert len(app_state.store.writes("envelope:env_1")) == 2


async def test_the_connector_splits_big_batches_at_max_batch(crm: httpx.AsyncClient) -> None:
    connector = SandboxCrmConnector("crm", "http://crm", crm, max_batch=2)

    result = await connector.apply([change(i, f"envelope:env_{i}") for i in range(5)])

    assert all(r.ok for r in result.results)
    assert result.meta["requests"] == 3
    assert (await crm.get("/_stats")).json()["requests_total"] == 3


async def test_coalesced_facts_are_all_logged_and_first_touch_is_kept(
    crm: httpx.AsyncClient,
) -> None:
    connector = SandboxCrmConnector("crm", "http://crm", crm)
    first = change(1, utm_source="newsletter")
    later = Change(
        outbox_id=2,
        record_key="envelope:env_1",
        kind="envelope.state_changed",
        idempotency_key="envelope:env_1:state:completed",
        payload=payload("completed", utm_source="paid-search"),
        correlation_id="corr-1",
        fact_keys=("envelope:env_1:state:viewed", "envelope:env_1:state:completed"),
    )

    await connector.apply([first])
    await connector.apply([later])

    record = (await crm.get("/records/envelope:env_1")).json()
    assert record["properties"]["first_touch_utm_source"] == "newsletter"
    writes = (await crm.get("/writes", params={"record": "envelope:env_1"})).json()["results"]
    assert writes[1]["facts"] == ["envelope:env_1:state:viewed", "envelope:env_1:state:completed"]


async def test_a_429_becomes_retryable_with_the_vendors_retry_after(
    crm: httpx.AsyncClient,
) -> None:
    await crm.post("/_faults", json={"mode": "rate_limit", "count": 1, "retry_after": 3})
    connector = SandboxCrmConnector("crm", "http://crm", crm)

    with pytest.raises(RetryableError) as caught:
        await connector.apply([change(1)])

    assert caught.value.retry_after == 3.0
    assert (await crm.get("/records")).json()["total"] == 0


@pytest.mark.parametrize("mode", ["error500", "down"])
async def test_server_errors_become_retryable(crm: httpx.AsyncClient, mode: str) -> None:
    await crm.post("/_faults", json={"mode": mode, "count": 1})
    connector = SandboxCrmConnector("crm", "http://crm", crm)

    with pytest.raises(RetryableError):
        await connector.apply([change(1)])
    result = await connector.apply([change(1)])

    assert result.results[0].ok
    assert (await crm.get("/records")).json()["total"] == 1


async def test_a_4xx_becomes_permanent() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"status": "error", "category": "VALIDATION_ERROR"})

    async with httpx.AsyncClient(transport=httpx.MockTransport(refuse)) as client:
        connector = SandboxCrmConnector("crm", "http://crm", client)
        with pytest.raises(PermanentError) as caught:
            await connector.apply([change(1)])

    assert "VALIDATION_ERROR" in caught.value.reason


async def test_a_refused_connection_becomes_retryable() -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(unreachable)) as client:
        connector = SandboxCrmConnector("crm", "http://crm", client)
        with pytest.raises(RetryableError):
            await connector.apply([change(1)])


async def test_a_change_with_an_unusable_record_key_fails_alone(crm: httpx.AsyncClient) -> None:
    connector = SandboxCrmConnector("crm", "http://crm", crm)

    result = await connector.apply([change(1, "x" * 300), change(2, "envelope:env_2")])

    assert [(r.ok, r.retryable) for r in result.results] == [(False, False), (True, False)]
    assert (await crm.get("/records")).json()["total"] == 1


def test_max_batch_beyond_the_vendor_limit_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        SandboxCrmConnector("crm", "http://crm", httpx.AsyncClient(), max_batch=101)


async def test_an_uncertain_coalesced_change_writes_only_the_facts_that_never_landed(
    crm_app: Starlette, crm: httpx.AsyncClient
) -> None:
    app_state: SandboxCrm = crm_app.state.sandbox
    connector = SandboxCrmConnector("crm", "http://crm", crm)
    older = dataclasses.replace(change(1, state="viewed"), fact_keys=("f:viewed",))
    await connector.apply([dataclasses.replace(older, idempotency_key="f:viewed")])
    newer = dataclasses.replace(
        change(2, state="completed"),
        idempotency_key="f:completed",
        fact_keys=("f:viewed", "f:completed"),
        uncertain=True,
    )
    await connector.apply([newer])
    facts = [f for w in app_state.store.writes("envelope:env_1") for f in w["facts"]]
    assert facts == ["f:viewed", "f:completed"]
    stored = app_state.store.record("envelope:env_1")
    assert stored is not None and stored["properties"]["inkbridge_status"] == "completed"
