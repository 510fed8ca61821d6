"""Change builders for the Pipedrive, Marketo and Mautic connector tests: outbox changes of
every kind with the payload shapes ``connectors.kinds`` documents."""

from __future__ import annotations

import itertools
from typing import Any, TypeVar

import httpx

from inkbridge.connectors import kinds
from inkbridge.connectors.base import Change, Connector
from tests.unit.connectors.payloads import first_touch

_ids = itertools.count(1)
E = TypeVar("E")

EMAIL = "ada@example.test"


def lead(
    lead_id: str = "lead_1",
    email: str | None = EMAIL,
    *,
    utm_source: str = "newsletter",
    consent: dict[str, str] | None = None,
    marketing_allowed: bool | None = None,
    first_name: str | None = "Ada",
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": lead_id,
        "email": email,
        "first_name": first_name,
        "last_name": "Lovelace",
        "company": "Analytical Engines",
        "owner": "owner-7",
        "first_touch": first_touch(utm_source),
        "consent": consent if consent is not None else {"marketing_email": "granted"},
    }
    if marketing_allowed is not None:
        body["marketing_allowed"] = marketing_allowed
    return body


def change(
    kind: str,
    record_key: str,
    payload: dict[str, Any],
    *,
    uncertain: bool = False,
    outbox_id: int | None = None,
) -> Change:
    outbox = next(_ids) if outbox_id is None else outbox_id
    return Change(
        outbox_id=outbox,
        record_key=record_key,
        kind=kind,
        idempotency_key=f"{record_key}:{kind}:{outbox}",
        payload=payload,
        correlation_id="cor_1",
        uncertain=uncertain,
    )


def envelope_change(
    state: str = "sent",
    *,
    envelope_id: str = "env_1",
    lead_body: dict[str, Any] | None = None,
    uncertain: bool = False,
) -> Change:
    milestones = {"sent_at": "2024-05-01T09:00:00+00:00"}
    if state == "completed":
        milestones["completed_at"] = "2024-05-01T10:00:00+00:00"
    body = lead() if lead_body is None else lead_body
    payload = {
        "event": {
            "kind": kinds.ENVELOPE_STATE,
            "fact_key": f"envelope:{envelope_id}:state:{state}",
            "occurred_at": "2024-05-01T10:00:00+00:00",
        },
        "envelope": {
            "id": envelope_id,
            "state": state,
            "provider": "sandbox",
            "provider_envelope_id": "sbx_abc",
            "template_key": "nda",
            "template_version": 2,
            "milestones": milestones,
            "delivery_failed": False,
            "lead_id": body.get("id"),
        },
        "lead": body,
        "correlation_id": "cor_1",
    }
    return change(kinds.ENVELOPE_STATE, f"envelope:{envelope_id}", payload, uncertain=uncertain)


def lead_change(
    kind: str = kinds.LEAD_UPDATED, lead_body: dict[str, Any] | None = None, **extra: Any
) -> Change:
    body = lead() if lead_body is None else lead_body
    payload: dict[str, Any] = {"lead": body, "correlation_id": "cor_1", **extra}
    return change(kind, f"lead:{body['id']}", payload)


def consent_change(status: str, **lead_extra: Any) -> Change:
    return lead_change(
        kinds.CONTACT_CONSENT, lead(consent={"marketing_email": status}, **lead_extra)
    )


def journey_change(name: str = "onboarding", lead_body: dict[str, Any] | None = None) -> Change:
    return lead_change(kinds.JOURNEY_ENTER, lead_body, journey={"name": name, "rule": "signed_nda"})


def suppress_change(lead_body: dict[str, Any] | None = None) -> Change:
    return lead_change(kinds.MARKETING_SUPPRESS, lead_body, reason="deal_won")


def task_change(
    key: str = "task_1", *, uncertain: bool = False, envelope_id: str = "env_1"
) -> Change:
    payload = {
        "lead": lead(),
        "envelope": {"id": envelope_id, "state": "completed", "lead_id": "lead_1"},
        "task": {
            "key": key,
            "subject": "Countersign the NDA",
            "body": "The lead signed; countersign today.",
            "owner": "owner-7",
            "due_at": "2024-05-02T09:30:00+00:00",
        },
        "correlation_id": "cor_1",
    }
    return change(kinds.CRM_TASK, f"task:{key}", payload, uncertain=uncertain)


def asgi_client(app: Any, base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


def emulator_in(app: Any, kind: type[E]) -> E:
    """The emulator object behind an emulator app (``app.state.emulator``), checked."""
    emulator = app.state.emulator
    assert isinstance(emulator, kind)
    return emulator


async def apply_sent_then_completed(connector: Connector) -> None:
    """One envelope's lifecycle delivered as two batches (sent, then completed), each change
    written."""
    sent = await connector.apply([envelope_change("sent")])
    completed = await connector.apply([envelope_change("completed")])
    assert [r.ok for r in (*sent.results, *completed.results)] == [True, True]
