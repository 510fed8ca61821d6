"""A delivered erasure keeps only the lead id, on SQLite and PostgreSQL: the destination got the
email it needed to find the person once, and the outbox row no longer holds it. An erasure
that is not delivered (dead-lettered) keeps its identifiers, so a replay can still find them."""

from __future__ import annotations

import asyncio
import json

from sqlalchemy import select

from inkbridge.bootstrap import Container
from inkbridge.services.erasure import erase_lead
from inkbridge.services.leads import LeadCapture, capture_lead
from inkbridge.store.schema import outbox
from tests.support.fakes import RecordingConnector
from tests.support.sealed import opened_value
from tests.support.worker import add_fake_destination, deliver_all

EMAIL = "grace.hopper@example.com"


def test_a_delivered_erasure_keeps_only_the_lead_id_and_a_dead_one_keeps_its_identifiers(
    container: Container,
) -> None:
    crm = add_fake_destination(container, "crm", RecordingConnector(name="crm"), role="crm")
    refusing = RecordingConnector(name="refusing", failures=["permanent"] * 10)
    add_fake_destination(container, "refusing", refusing, role="marketing", max_attempts=1)
    lead_id = capture_lead(container.databases, LeadCapture(email=EMAIL, first_name="Grace"))
    asyncio.run(deliver_all(container))
    refusing.failures = ["permanent"] * 10

    erase_lead(container.databases, lead_id, destinations=container.destinations)
    asyncio.run(deliver_all(container))

    with container.databases.home.reader() as conn:
        rows = {
            r.destination: (r.status, opened_value(conn, "outbox.payload", r.payload))
            for r in conn.execute(
                select(outbox.c.destination, outbox.c.status, outbox.c.payload).where(
                    outbox.c.kind == "lead.erased"
                )
            )
        }
        others = conn.execute(select(outbox.c.payload).where(outbox.c.kind != "lead.erased"))
        other_payloads = json.dumps(
            [opened_value(conn, "outbox.payload", r.payload) for r in others]
        )
    assert [w["lead"] for w in crm.writes if w["kind"] == "lead.erased"] == [
        {"id": lead_id, "email": EMAIL}
    ]
    assert rows["crm"] == ("delivered", {"lead": {"id": lead_id}})
    status, kept = rows["refusing"]
    assert status == "dead" and json.loads(kept)["lead"] == {"id": lead_id, "email": EMAIL}
    assert EMAIL not in other_payloads
