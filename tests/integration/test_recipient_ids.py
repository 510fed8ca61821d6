"""A vendor may name the signer of an envelope inkbridge created by its own recipient id (a
DocuSign server template's ids, Dropbox Sign's ``signature_id``): the signer stays one
recipient, matched by email, through the pipeline and through a replay of the event log."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from inkbridge.bootstrap import Container
from inkbridge.services.leads import LeadCapture, capture_lead
from inkbridge.services.replay import rebuild_all
from inkbridge.store import envelopes as envelope_store
from inkbridge.store.schema import envelopes
from tests.support.builders import event_body, store_delivery
from tests.support.worker import drain_receipts

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _deliver(container: Container, ref: str, *events: tuple[str, str, str, int]) -> None:
    for kind, recipient_id, email, minute in events:
        body = event_body(
            kind, ref, T0 + timedelta(minutes=minute), recipient_id, recipient_email=email
        )
        store_delivery(container.databases.home, body)
    drain_receipts(container)


def _recipients(container: Container, ref: str) -> list[tuple[str, str | None, str]]:
    with container.databases.home.reader() as conn:
        envelope_id = conn.execute(
            select(envelopes.c.id).where(envelopes.c.provider_envelope_id == ref)
        ).scalar_one()
        rows = envelope_store.recipient_rows(conn, envelope_id)
        return [(row.recipient_id, row.email, row.status) for row in rows]


def test_the_signer_named_by_the_vendor_is_the_recipient_inkbridge_created(
    container: Container,
) -> None:
    lead_id = capture_lead(container.databases, LeadCapture(email="ada@example.com"), now=T0)
    view = asyncio.run(
        container.services.envelopes.create_envelope(lead_id=lead_id, template_key="nda")
    )
    ref = view["provider_envelope_id"]

    _deliver(
        container,
        ref,
        ("document_viewed", "tmpl-signer-7f3a", "Ada@Example.com", 5),
        ("recipient_signed", "tmpl-signer-7f3a", "ada@example.com", 9),
        # Someone the envelope never had: a recipient of its own.
        ("document_viewed", "cc-2", "grace@example.com", 10),
    )

    expected = [
        ("1", "ada@example.com", "signed"),
        ("cc-2", "grace@example.com", "viewed"),
    ]
    assert _recipients(container, ref) == expected
    rebuild_all(container.databases)
    assert _recipients(container, ref) == expected
