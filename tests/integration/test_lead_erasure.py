"""Erasing a lead over HTTP, on SQLite and PostgreSQL: the privacy scope, idempotence, one
``lead.erased`` change per destination that may hold the region's data, no personal value left
in the lead's rows, chains that still verify and reports whose totals do not move."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from inkbridge.api.app import create_app
from inkbridge.bootstrap import Container
from inkbridge.domain.attribution import Touchpoint
from inkbridge.services.consent import verify_consent_chains
from inkbridge.services.leads import ConsentInput, LeadCapture, capture_lead, update_lead
from inkbridge.services.replay import verify_chains
from inkbridge.services.reports import attribution_report, funnel_report, time_to_sign_report
from inkbridge.services.tokens import create_token
from inkbridge.store.schema import (
    audit_log,
    consent_records,
    data_keys,
    envelope_events,
    envelopes,
    erasures,
    leads,
    outbox,
    recipients,
    touchpoints,
)
from tests.support.builders import event_body, store_delivery
from tests.support.fakes import RecordingConnector
from tests.support.sealed import opened_dump, opened_rows, opened_value
from tests.support.worker import add_fake_destination, deliver_all, drain_receipts

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
EMAIL = "ada.lovelace@example.com"
PERSONAL = (EMAIL, "Augusta", "Lovelace", "Analytical Engines", "ada.lovelace")
# Rows the erasure must leave without a trace of the person (raw webhook receipts are made
# unreadable by destroying the subject's data key, not by rewriting them).
SCANNED = (leads, recipients, envelopes, touchpoints, consent_records, audit_log, envelope_events)


@pytest.fixture
def fakes(container: Container) -> tuple[RecordingConnector, RecordingConnector]:
    """A CRM and a marketing tool for the region, and one declared for another region only."""
    crm = add_fake_destination(container, "crm", RecordingConnector(name="crm"), role="crm")
    mkt = add_fake_destination(container, "mkt", RecordingConnector(name="mkt"), role="marketing")
    add_fake_destination(container, "eu_crm", RecordingConnector(name="eu_crm"), regions=["eu"])
    return crm, mkt


def _call(container: Container, method: str, path: str, token: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.request(method, path, headers={"Authorization": f"Bearer {token}"})

    return asyncio.run(go())


def _token(container: Container, scope: str) -> str:
    _, token = create_token(container.databases, f"erasure-{scope}", [scope])
    return token


def _signed_lead(container: Container) -> str:
    """A lead with touches, consent and a completed envelope, delivered everywhere; then one
    more change (a new company) queued but not yet sent."""
    lead_id = capture_lead(
        container.databases,
        LeadCapture(
            email=EMAIL,
            first_name="Augusta",
            last_name="Lovelace",
            company="Analytical Engines",
            touchpoints=(
                Touchpoint(
                    occurred_at=T0,
                    utm_campaign="autumn",
                    referrer="https://news.example/story?reader=ada.lovelace",
                    landing_page="https://www.example.com/signup?email=ada.lovelace@example.com",
                ),
            ),
            consents=(ConsentInput(kind="marketing_email", status="granted"),),
            evidence_ip="203.0.113.7",
            evidence_user_agent="Mozilla/5.0 (Lovelace)",
        ),
        destinations=container.destinations,
    )
    steps = [("document_sent", 0), ("document_viewed", 5), ("document_completed", 9)]
    for kind, minute in steps:
        body = event_body(
            kind,
            "sbx_erase_1",
            T0 + timedelta(days=1, minutes=minute),
            "1",
            {"inkbridge_lead_id": lead_id, "crm_note": "Ada Lovelace"},
            recipient_email=EMAIL,
        )
        store_delivery(container.databases.home, body)
    drain_receipts(container)
    asyncio.run(deliver_all(container))
    update_lead(
        container.databases,
        lead_id,
        {"company": "Analytical Engines Ltd"},
        destinations=container.destinations,
    )
    return lead_id


def _reports(container: Container) -> list[dict[str, Any]]:
    dbs = container.databases
    return [funnel_report(dbs), time_to_sign_report(dbs), attribution_report(dbs)]


def _traces(container: Container) -> list[str]:
    """Every personal value found in the scanned tables and in outbox payloads other than the
    erasure changes (which carry the identifiers a destination needs to find the person)."""
    found = []
    with container.databases.home.reader() as conn:
        dumps = [opened_dump(conn, t) for t in SCANNED]
        payloads = conn.execute(select(outbox.c.payload).where(outbox.c.kind != "lead.erased"))
        dumps.append(
            json.dumps([opened_value(conn, "outbox.payload", r.payload) for r in payloads])
        )
    for dump in dumps:
        found += [value for value in PERSONAL if value in dump]
    return found


def test_erasure_needs_the_privacy_scope(container: Container) -> None:
    lead_id = capture_lead(container.databases, LeadCapture(email=EMAIL))
    for scope in ("read", "leads:write"):
        answer = _call(container, "POST", f"/v1/leads/{lead_id}/erasure", _token(container, scope))
        assert answer.status_code == 403
    with container.databases.home.reader() as conn:
        assert conn.execute(select(erasures)).all() == []
        assert (
            opened_value(conn, "leads.email", conn.execute(select(leads.c.email)).scalar_one())
            == EMAIL
        )
    admin = _call(container, "POST", f"/v1/leads/{lead_id}/erasure", _token(container, "admin"))
    assert admin.status_code == 202


def test_an_unknown_lead_is_not_found(container: Container) -> None:
    answer = _call(container, "POST", "/v1/leads/lead_nobody/erasure", _token(container, "privacy"))
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("application/problem+json")


def test_a_second_request_returns_the_first_erasure_and_queues_nothing_more(
    container: Container, fakes: tuple[RecordingConnector, RecordingConnector]
) -> None:
    lead_id = _signed_lead(container)
    token = _token(container, "privacy")

    first = _call(container, "POST", f"/v1/leads/{lead_id}/erasure", token)
    second = _call(container, "POST", f"/v1/leads/{lead_id}/erasure", token)
    shown = _call(container, "GET", f"/v1/leads/{lead_id}/erasure", token)

    assert (first.status_code, second.status_code, shown.status_code) == (202, 200, 200)
    assert first.json()["id"] == second.json()["id"] == shown.json()["id"]
    assert first.json()["destinations"] == ["crm", "mkt"]
    assert second.json()["status"] == "already_erased"
    with container.databases.home.reader() as conn:
        erased = conn.execute(
            select(outbox.c.destination, outbox.c.record_key).where(outbox.c.kind == "lead.erased")
        ).all()
        audited = conn.execute(
            select(audit_log.c.details).where(audit_log.c.action == "api:lead:erased")
        ).all()
    assert sorted(erased) == [("crm", f"lead:{lead_id}"), ("mkt", f"lead:{lead_id}")]
    assert len(audited) == 1 and EMAIL not in json.dumps(audited[0].details)


def test_erasure_leaves_no_personal_value_and_keeps_the_evidence_and_the_reports(
    container: Container, fakes: tuple[RecordingConnector, RecordingConnector]
) -> None:
    crm, mkt = fakes
    lead_id = _signed_lead(container)
    before = _reports(container)
    assert _traces(container)  # the scan does see the person before

    answer = _call(container, "POST", f"/v1/leads/{lead_id}/erasure", _token(container, "privacy"))

    assert answer.status_code == 202
    assert answer.json()["cancelled_changes"] >= 1  # the queued company change
    assert _traces(container) == []
    assert verify_chains(container.databases) == []
    assert verify_consent_chains(container.databases) == []
    assert _reports(container) == before
    with container.databases.home.reader() as conn:
        (lead,) = [row for row in opened_rows(conn, leads) if row["id"] == lead_id]
        (touch,) = opened_rows(conn, touchpoints)
        keys = conn.execute(
            select(data_keys.c.wrapped_key).where(
                data_keys.c.subject_type == "lead", data_keys.c.subject_id == lead_id
            )
        ).all()
        statuses = dict(
            conn.execute(
                select(outbox.c.kind, outbox.c.status).where(
                    outbox.c.kind == "lead.updated", outbox.c.destination == "crm"
                )
            ).all()
        )
    assert [lead[c] for c in ("email", "first_name", "last_name", "company", "phone")] == [None] * 5
    assert (touch["referrer"], touch["landing_page"]) == (
        "https://news.example",
        "https://www.example.com",
    )
    assert statuses == {"lead.updated": "cancelled"}
    assert [k.wrapped_key for k in keys] == [None]  # the person's data key is shredded

    asyncio.run(deliver_all(container))

    for fake in (crm, mkt):
        erased = [w for w in fake.writes if w["kind"] == "lead.erased"]
        assert [w["lead"] for w in erased] == [{"id": lead_id, "email": EMAIL}]
        assert not [
            w
            for w in fake.writes
            if w["kind"] == "lead.updated"
            and w["record"]
            and w["lead"]
            and w["lead"].get("company") == "Analytical Engines Ltd"
        ]
