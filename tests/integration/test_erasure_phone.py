"""An erasure empties the lead's phone column like its email and names, also in a row written
before encryption at rest (the phone then in plain text), and scrubs the number from the
payloads of the lead's earlier changes; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import select, update

from inkbridge.bootstrap import Container
from inkbridge.connectors.kinds import LEAD_UPDATED
from inkbridge.services.erasure import erase_lead
from inkbridge.services.leads import LeadCapture, capture_lead
from inkbridge.store import outbox as outbox_store
from inkbridge.store.schema import leads, outbox
from tests.support.fakes import RecordingConnector
from tests.support.worker import add_fake_destination

PHONE = "+44 20 7946 0958"


def _lead_with_a_plain_phone(container: Container) -> str:
    """A lead whose phone is stored in plain text, as a row from before encryption at rest."""
    add_fake_destination(container, "crm", RecordingConnector(name="crm"), role="crm")
    lead_id = capture_lead(
        container.databases,
        LeadCapture(email="grace.hopper@example.com", first_name="Grace", phone=PHONE),
        destinations=container.destinations,
    )
    with container.databases.home.transaction() as conn:
        conn.execute(update(leads).where(leads.c.id == lead_id).values(phone=PHONE))
    return lead_id


def test_an_erased_leads_phone_is_gone_from_its_row(container: Container) -> None:
    lead_id = _lead_with_a_plain_phone(container)

    erase_lead(container.databases, lead_id, destinations=container.destinations)

    with container.databases.home.reader() as conn:
        phone = conn.execute(select(leads.c.phone).where(leads.c.id == lead_id)).scalar_one()
    assert phone is None


def test_an_erased_leads_phone_is_gone_from_its_earlier_changes(container: Container) -> None:
    lead_id = _lead_with_a_plain_phone(container)
    plain = {"lead": {"id": lead_id, "phone": PHONE}}
    with container.databases.home.transaction() as conn:
        outbox_store.enqueue(
            conn,
            **{"region": container.databases.home.region, "destination": "crm"},
            **{"idempotency_key": f"lead:{lead_id}:updated:1", "record_key": f"lead:{lead_id}"},
            **{"kind": LEAD_UPDATED, "payload": plain, "correlation_id": None},
            now=datetime.now(UTC),
        )
        # Then stored as a change written before encryption at rest held it: in plain text.
        conn.execute(update(outbox).values(payload=plain))

    erase_lead(container.databases, lead_id, destinations=container.destinations)

    with container.databases.home.reader() as conn:
        payloads = conn.execute(
            select(outbox.c.payload).where(outbox.c.kind != "lead.erased")
        ).scalars()
        text = json.dumps(list(payloads))
    assert PHONE not in text
