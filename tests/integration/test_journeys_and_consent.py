"""Journey rules and consent on real databases: what reaches the CRM and the marketing tool
when envelopes complete, expire or are declined, with and without marketing consent."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from inkbridge.bootstrap import Container
from inkbridge.domain.attribution import Touchpoint
from inkbridge.services.consent import (
    consent_receipt,
    record_consent,
    register_text,
    verify_consent_chains,
)
from inkbridge.services.leads import ConsentInput, LeadCapture, capture_lead, update_lead
from inkbridge.store.schema import consent_records, outbox
from tests.support.builders import event_body, store_delivery
from tests.support.fakes import RecordingConnector
from tests.support.worker import add_fake_destination, deliver_all, drain_receipts

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def fakes(container: Container) -> tuple[RecordingConnector, RecordingConnector]:
    """A fake CRM ("crm") and a fake marketing tool ("mkt") as the container's destinations."""
    return (
        add_fake_destination(
            container,
            "crm",
            RecordingConnector(name="crm"),
            role="crm",
            backoff_base_seconds=0.01,
        ),
        add_fake_destination(
            container,
            "mkt",
            RecordingConnector(name="mkt"),
            role="marketing",
            backoff_base_seconds=0.01,
        ),
    )


def _lead(container: Container, marketing: bool, owner: str = "sam@seller.example") -> str:
    consents = (ConsentInput(kind="marketing_email", status="granted"),) if marketing else ()
    return capture_lead(
        container.databases,
        LeadCapture(
            email=f"{uuid.uuid4().hex[:8]}@example.com",
            owner=owner,
            touchpoints=(Touchpoint(occurred_at=T0, utm_campaign="autumn", utm_medium="cpc"),),
            consents=consents,
        ),
        destinations=container.destinations,
    )


def _events(container: Container, lead_id: str, ref: str, terminal: str) -> None:
    steps = [("document_sent", 0), ("document_viewed", 5), (terminal, 9)]
    for kind, minute in steps:
        body = event_body(
            kind, ref, T0 + timedelta(minutes=minute), "1", {"inkbridge_lead_id": lead_id}
        )
        store_delivery(container.databases.home, body)
    drain_receipts(container)


def _deliver(container: Container) -> None:
    asyncio.run(deliver_all(container))


def _sign_off(container: Container, marketing: bool, ref: str, terminal: str) -> str:
    """A new lead (with or without marketing consent) whose envelope ``ref`` ends in
    ``terminal``, processed and delivered; returns the lead's id."""
    lead_id = _lead(container, marketing=marketing)
    _events(container, lead_id, ref, terminal)
    _deliver(container)
    return lead_id


def _kinds(fake: RecordingConnector) -> list[str]:
    return [w["kind"] for w in fake.writes]


def test_completion_with_marketing_consent_enters_onboarding(
    container: Container, fakes: tuple[RecordingConnector, RecordingConnector]
) -> None:
    crm, marketing = fakes
    _sign_off(container, True, "sbx_j1", "document_completed")
    journeys = [w for w in marketing.writes if w["kind"] == "journey.enter"]
    assert [w["journey"]["journey"] for w in journeys] == ["onboarding"]
    assert "marketing.suppress" not in _kinds(marketing)
    assert "crm.task" not in _kinds(crm)
    assert crm.records[f"envelope:{_envelope(container)}"]["state"] == "completed"


def _envelope(container: Container) -> str:
    with container.databases.home.reader() as conn:
        return str(conn.execute(text("SELECT id FROM envelopes")).scalar_one())


def test_completion_without_marketing_consent_is_won_but_suppressed(
    container: Container, fakes: tuple[RecordingConnector, RecordingConnector]
) -> None:
    crm, marketing = fakes
    _sign_off(container, False, "sbx_j2", "document_completed")
    assert "journey.enter" not in _kinds(marketing)
    assert _kinds(marketing).count("marketing.suppress") == 1
    assert crm.records[f"envelope:{_envelope(container)}"]["state"] == "completed"


def test_expiry_sends_the_lead_back_into_nurture(
    container: Container, fakes: tuple[RecordingConnector, RecordingConnector]
) -> None:
    _crm, marketing = fakes
    _sign_off(container, True, "sbx_j3", "document_expired")
    journeys = [w["journey"]["journey"] for w in marketing.writes if w["kind"] == "journey.enter"]
    assert journeys == ["nurture"]


def test_a_decline_creates_one_task_for_the_crm_owner(
    container: Container, fakes: tuple[RecordingConnector, RecordingConnector]
) -> None:
    crm, marketing = fakes
    lead_id = _lead(container, marketing=True, owner="owner@seller.example")
    _events(container, lead_id, "sbx_j4", "document_declined")
    _deliver(container)
    tasks = [w for w in crm.writes if w["kind"] == "crm.task"]
    assert len(tasks) == 1 and tasks[0]["task"]["owner"] == "owner@seller.example"
    assert "crm.task" not in _kinds(marketing)


def test_withdrawn_marketing_consent_stops_queued_marketing_but_contract_status_syncs(
    container: Container, fakes: tuple[RecordingConnector, RecordingConnector]
) -> None:
    crm, marketing = fakes
    lead_id = _lead(container, marketing=True)
    _events(container, lead_id, "sbx_j5", "document_completed")  # journey queued, not yet sent
    record_consent(
        container.databases,
        lead_id,
        ConsentInput(kind="marketing_email", status="withdrawn", method="preference_center"),
        ip="198.51.100.23",
        user_agent="test",
        destinations=container.destinations,
    )
    _deliver(container)
    assert "journey.enter" not in _kinds(marketing)
    with container.databases.home.reader() as conn:
        statuses = dict(
            conn.execute(
                select(outbox.c.kind, outbox.c.status).where(
                    outbox.c.destination == "mkt", outbox.c.kind == "journey.enter"
                )
            ).all()
        )
    assert statuses == {"journey.enter": "suppressed"}
    assert crm.records[f"envelope:{_envelope(container)}"]["state"] == "completed"
    consent_writes = [w for w in crm.writes if w["kind"] == "contact.consent"]
    assert consent_writes[-1]["lead"]["consent"]["marketing_email"] == "withdrawn"


def test_an_owner_change_syncs_and_first_touch_stays(
    container: Container, fakes: tuple[RecordingConnector, RecordingConnector]
) -> None:
    crm, _marketing = fakes
    lead_id = _lead(container, marketing=True, owner="first@seller.example")
    update_lead(
        container.databases,
        lead_id,
        {"owner": "second@seller.example"},
        destinations=container.destinations,
    )
    _deliver(container)
    record = crm.records[f"lead:{lead_id}"]
    assert record["lead"]["owner"] == "second@seller.example"
    assert record["lead"]["first_touch"]["utm_campaign"] == "autumn"


def test_completion_records_the_signed_consent_bundle(
    container: Container, fakes: tuple[RecordingConnector, RecordingConnector]
) -> None:
    _crm, _marketing = fakes
    terms = register_text(
        container.databases, kind="terms_of_service", text="Terms v7", locale="en"
    )
    container.settings.templates["nda"].consent_bundle.append(terms["id"])
    lead_id = _lead(container, marketing=False)
    with container.databases.home.transaction() as conn:
        conn.execute(text("UPDATE envelopes SET template_key = 'nda'"))
    _events(container, lead_id, "sbx_j6", "document_sent")  # creates the envelope
    with container.databases.home.transaction() as conn:
        conn.execute(text("UPDATE envelopes SET template_key = 'nda'"))
    _events(container, lead_id, "sbx_j6", "document_completed")
    with container.databases.home.reader() as conn:
        rows = conn.execute(
            select(
                consent_records.c.kind, consent_records.c.text_sha256, consent_records.c.method
            ).where(consent_records.c.lead_id == lead_id)
        ).all()
    kinds = {r.kind: r for r in rows}
    assert kinds["contract_execution"].method == "e_signature"
    assert kinds["terms_of_service"].text_sha256 == terms["sha256"]
    receipt = consent_receipt(container.databases, lead_id, container.settings.controller)
    assert {r["purpose"] for r in receipt["records"]} >= {"contract_execution", "terms_of_service"}


def test_tampering_with_a_consent_record_is_caught(
    container: Container, fakes: tuple[RecordingConnector, RecordingConnector]
) -> None:
    _crm, _marketing = fakes
    lead_id = _lead(container, marketing=True)
    assert verify_consent_chains(container.databases) == []
    with container.databases.home.transaction() as conn:
        conn.execute(text("UPDATE consent_records SET status = 'denied'"))
    breaks = verify_consent_chains(container.databases)
    assert [b.chain for b in breaks] == [f"default:consent:{lead_id}"]
