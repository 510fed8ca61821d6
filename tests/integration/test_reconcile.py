"""Reconciliation against the sandbox provider's API: a lost completion webhook is repaired, and
a terminal conflict is settled in favour of the provider's own status."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from inkbridge.bootstrap import Container
from inkbridge.domain.signer_session import SIGNER_COOKIE
from inkbridge.providers.base import EnvelopeSpec, Signer, SignerAuthentication, SigningRequest
from inkbridge.store.schema import envelopes, outbox
from tests.support.builders import event_body, store_delivery
from tests.support.worker import drain_receipts


def _receive(container: Container, body: bytes) -> None:
    store_delivery(container.databases.home, body)
    drain_receipts(container)


async def _provider_envelope(container: Container, sign: bool) -> str:
    client = container.providers["sandbox"]
    created = await client.create_envelope(
        EnvelopeSpec(
            envelope_id="env_x",
            template_id="nda",
            title="NDA",
            signers=(Signer(email="ada@example.com", name="Ada"),),
            metadata={},
        )
    )
    if sign:
        binding = hashlib.sha256(b"browser-cookie").hexdigest()
        url = await client.signing_url(
            SigningRequest(
                created.provider_envelope_id,
                Signer("a@x", "A"),
                authentication=SignerAuthentication("password", datetime.now(UTC), binding),
            )
        )
        http = client._client  # the same in-process transport as the provider client
        path = url.removeprefix("http://sandbox")
        browser = {"cookie": f"{SIGNER_COOKIE}=browser-cookie"}
        assert (await http.get(path, headers=browser)).status_code == 200
        assert (await http.post(path + "/sign", headers=browser)).status_code in (200, 303)
    return created.provider_envelope_id


def _row(container: Container, ref: str):  # type: ignore[no-untyped-def]
    with container.databases.home.reader() as conn:
        return conn.execute(select(envelopes).where(envelopes.c.provider_envelope_id == ref)).one()


def _age(container: Container, hours: int) -> None:
    with container.databases.home.transaction() as conn:
        conn.execute(
            update(envelopes).values(updated_at=datetime.now(UTC) - timedelta(hours=hours))
        )


def test_a_lost_completion_webhook_is_repaired_from_the_provider(container: Container) -> None:
    ref = asyncio.run(_provider_envelope(container, sign=True))
    _receive(container, event_body("document_sent", ref, datetime.now(UTC) - timedelta(hours=3)))
    assert _row(container, ref).state == "sent"
    _age(container, 2)

    result = asyncio.run(container.services.reconciler.reconcile_once(container.databases.home))
    assert result.reported == 1
    drain_receipts(container)
    row = _row(container, ref)
    assert row.state == "completed"
    assert "completed_at" in row.milestones
    with container.databases.home.reader() as conn:
        facts = conn.execute(select(outbox.c.idempotency_key)).scalars().all()
    assert facts == []  # no destination configured here; nothing routed


def test_fresh_open_envelopes_are_left_alone(container: Container) -> None:
    ref = asyncio.run(_provider_envelope(container, sign=False))
    _receive(container, event_body("document_sent", ref, datetime.now(UTC)))
    result = asyncio.run(container.services.reconciler.reconcile_once(container.databases.home))
    assert result.checked == 0


def test_a_terminal_conflict_is_settled_in_favour_of_the_provider(container: Container) -> None:
    ref = asyncio.run(_provider_envelope(container, sign=True))
    now = datetime.now(UTC)
    _receive(container, event_body("document_declined", ref, now - timedelta(minutes=5)))
    _receive(container, event_body("document_completed", ref, now - timedelta(minutes=4)))
    row = _row(container, ref)
    assert row.state == "declined" and row.conflicts == ["completed"] and row.needs_reconcile

    asyncio.run(container.services.reconciler.reconcile_once(container.databases.home))
    drain_receipts(container)
    row = _row(container, ref)
    assert row.state == "completed"  # the provider is the canonical record of completion
    assert row.conflicts == [] and not row.needs_reconcile

    again = asyncio.run(container.services.reconciler.reconcile_once(container.databases.home))
    assert again.checked == 0  # settled: nothing left to ask


def test_the_vendor_polling_rule_is_respected(container: Container) -> None:
    client = container.providers["sandbox"]
    client.min_poll_interval_seconds = 900  # type: ignore[misc] - DocuSign's rule
    ref = asyncio.run(_provider_envelope(container, sign=False))
    _receive(container, event_body("document_sent", ref, datetime.now(UTC)))
    _age(container, 2)
    assert (
        asyncio.run(container.services.reconciler.reconcile_once(container.databases.home)).reported
        == 1
    )
    drain_receipts(container)
    _age(container, 2)
    assert (
        asyncio.run(container.services.reconciler.reconcile_once(container.databases.home)).checked
        == 0
    )
