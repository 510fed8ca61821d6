"""Nothing personal crosses regions through the inbox: a receipt at the ``eu`` connection that
names a lead or envelope of ``us``, or whose signer is a ``us`` lead only, is parked as
``refused_residency`` — no envelope, recipient, event or outbox row in ``eu``, its body dropped,
audited with hashed ids, counted, and listed for the operator. Receipts about ``eu``'s own
people, or about nobody inkbridge knows, are processed as before. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from inkbridge.bootstrap import Container, bootstrap
from inkbridge.domain.queue_states import ReceiptStatus
from inkbridge.metrics import REGISTRY
from inkbridge.services.admin import parked_receipts
from inkbridge.services.leads import LeadCapture, capture_lead
from inkbridge.store.schema import (
    audit_log,
    envelope_events,
    envelopes,
    leads,
    outbox,
    recipients,
    webhook_receipts,
)
from tests.support.builders import event_body, store_delivery
from tests.support.regions import (
    CONNECTIONS,
    REFUSED_RECEIPT_KEYS,
    region_urls,
    two_region_settings,
)

US_EMAIL = "grace.hopper@example.us"
EU_EMAIL = "ada.lovelace@example.eu"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def regions(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Container]:
    for urls in region_urls(request.param, tmp_path):
        built = bootstrap(two_region_settings(tmp_path, urls), auto_migrate=True)
        try:
            yield built
        finally:
            built.databases.dispose()


def _lead(container: Container, email: str, region: str) -> str:
    capture = LeadCapture(email=email, first_name="Test", last_name="Person", region=region)
    return capture_lead(container.databases, capture)


def _deliver(
    container: Container,
    envelope_ref: str,
    *,
    lead_id: str | None = None,
    envelope_id: str | None = None,
    email: str | None = None,
    region: str = "eu",
) -> str:
    """Store one signed-and-verified delivery at ``region``'s own connection, naming the
    inkbridge lead or envelope it is about (as an integrator's metadata does) and the signer's
    email, and run its worker once; returns the receipt's status."""
    db = container.databases[region]
    connection = CONNECTIONS[region]
    named = {"inkbridge_lead_id": lead_id, "inkbridge_envelope_id": envelope_id}
    metadata = {key: value for key, value in named.items() if value is not None}
    body = event_body(
        "recipient_signed", envelope_ref, datetime.now(UTC), "1", metadata, recipient_email=email
    )
    store_delivery(db, body, connection=connection)
    assert container.services.receipts.process_pending(db) == 1
    with db.reader() as conn:
        row = conn.execute(
            select(webhook_receipts.c.status).order_by(webhook_receipts.c.id.desc()).limit(1)
        ).one()
    return str(row.status)


def _count(container: Container, region: str, table: Any) -> int:
    with container.databases[region].reader() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _refused_total(region: str, reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "inkbridge_receipts_refused_residency_total", {"region": region, "reason": reason}
    )
    return value or 0.0


def _nothing_of_it_in_eu(container: Container) -> None:
    for table in (envelopes, recipients, envelope_events, outbox):
        assert _count(container, "eu", table) == 0, table.name


def _us_envelope(container: Container, lead_id: str) -> str:
    """A ``us`` envelope, tracked from its first event at the ``us`` connection."""
    status = _deliver(container, "sbx_us_1", lead_id=lead_id, email=US_EMAIL, region="us")
    assert status == ReceiptStatus.DONE
    with container.databases["us"].reader() as conn:
        return str(conn.execute(select(envelopes.c.id)).scalar_one())


def test_a_receipt_naming_a_lead_of_another_region_is_refused_and_nothing_of_it_is_kept(
    regions: Container,
) -> None:
    us_lead = _lead(regions, US_EMAIL, "us")
    before = _refused_total("eu", "lead_in_other_region")

    status = _deliver(regions, "sbx_forged", lead_id=us_lead, email=US_EMAIL)

    assert status == "refused_residency"
    _nothing_of_it_in_eu(regions)
    with regions.databases["eu"].reader() as conn:
        receipt = conn.execute(select(webhook_receipts)).one()
        audit = conn.execute(
            select(audit_log).where(audit_log.c.action == "worker:receipt:refused_residency")
        ).one()
    assert receipt.body == b"" and receipt.error == "lead_in_other_region"
    assert receipt.dedup_key  # kept: a redelivery is still a duplicate
    assert US_EMAIL not in str(audit.details) and us_lead not in str(audit.details)
    assert audit.details["reason"] == "lead_in_other_region"
    assert audit.details["connection"] == "sandbox"
    assert len(audit.details["lead_id_hash"]) == 16
    assert _refused_total("eu", "lead_in_other_region") == before + 1
    # The us lead itself is untouched, and us gained nothing either.
    assert _count(regions, "us", envelopes) == 0
    assert _count(regions, "us", leads) == 1


def test_a_receipt_naming_an_envelope_of_another_region_is_refused(regions: Container) -> None:
    us_envelope = _us_envelope(regions, _lead(regions, US_EMAIL, "us"))

    status = _deliver(regions, "sbx_other", envelope_id=us_envelope)

    assert status == "refused_residency"
    _nothing_of_it_in_eu(regions)
    [listed] = parked_receipts(regions.databases, ReceiptStatus.REFUSED_RESIDENCY)
    assert listed["region"] == "eu" and listed["connection"] == "sandbox"
    assert listed["reason"] == "envelope_in_other_region"
    assert set(listed) == REFUSED_RECEIPT_KEYS


def test_a_receipt_whose_signer_is_a_lead_of_another_region_only_is_refused(
    regions: Container,
) -> None:
    _lead(regions, US_EMAIL, "us")

    # Sent by hand at the eu vendor account: no inkbridge ids, only the signer's email.
    status = _deliver(regions, "sbx_by_hand", email=US_EMAIL)

    assert status == "refused_residency"
    _nothing_of_it_in_eu(regions)
    with regions.databases["eu"].reader() as conn:
        assert conn.execute(select(webhook_receipts.c.error)).scalar_one() == (
            "signer_in_other_region"
        )


def test_a_signer_who_is_a_lead_in_both_regions_is_linked_to_the_local_lead(
    regions: Container,
) -> None:
    _lead(regions, US_EMAIL, "us")
    eu_lead = _lead(regions, US_EMAIL, "eu")

    status = _deliver(regions, "sbx_both", email=US_EMAIL)

    assert status == "done"
    with regions.databases["eu"].reader() as conn:
        envelope = conn.execute(select(envelopes)).one()
    assert envelope.lead_id == eu_lead and envelope.linked
    assert _count(regions, "us", envelopes) == 0


def test_a_receipt_about_this_regions_lead_is_processed_and_queued_for_its_destination(
    regions: Container,
) -> None:
    eu_lead = _lead(regions, EU_EMAIL, "eu")

    status = _deliver(regions, "sbx_eu", lead_id=eu_lead, email=EU_EMAIL)

    assert status == "done"
    with regions.databases["eu"].reader() as conn:
        assert conn.execute(select(envelopes.c.lead_id)).scalar_one() == eu_lead
        destinations = set(conn.execute(select(outbox.c.destination)).scalars())
    assert destinations == {"eu_crm"}
    assert parked_receipts(regions.databases, ReceiptStatus.REFUSED_RESIDENCY) == []


def test_a_receipt_about_nobody_any_region_knows_is_tracked_unlinked_as_before(
    regions: Container,
) -> None:
    status = _deliver(regions, "sbx_stranger", lead_id="lead_unknown", email="stranger@example.org")

    assert status == "done"
    with regions.databases["eu"].reader() as conn:
        envelope = conn.execute(select(envelopes)).one()
    assert envelope.lead_id is None and not envelope.linked


def test_a_refused_body_leaves_no_bytes_in_the_sqlite_file_or_its_log(tmp_path: Path) -> None:
    for urls in region_urls("sqlite", tmp_path):
        container = bootstrap(two_region_settings(tmp_path, urls), auto_migrate=True)
        try:
            us_lead = _lead(container, US_EMAIL, "us")
            status = _deliver(container, "sbx_forged", lead_id=us_lead, email=US_EMAIL)
            assert status == "refused_residency"
            # Read while the engines are open: the write-ahead log is still there.
            files = [p for p in tmp_path.glob("eu.db*") if p.is_file()]
            assert any(p.name == "eu.db-wal" for p in files)
            for path in files:
                raw = path.read_bytes()
                found = [value for value in (US_EMAIL, us_lead) if value.encode() in raw]
                assert found == [], path.name
        finally:
            container.databases.dispose()
