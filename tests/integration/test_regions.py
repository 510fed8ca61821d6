"""Residency: each region has its own database, and personal data only goes to destinations
declared for its region."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from inkbridge.bootstrap import bootstrap
from inkbridge.config import DestinationSettings, Settings
from inkbridge.errors import UnmigratedDatabase
from inkbridge.services.leads import LeadCapture, capture_lead, lead_view
from inkbridge.services.routing import Destination
from inkbridge.store.receipt_inserts import ReceiptRow, insert_receipt
from inkbridge.store.schema import envelopes, leads, outbox
from tests.support.builders import SECRET, event_body
from tests.support.fakes import RecordingConnector


def _settings(tmp_path: Path) -> Settings:
    secret = tmp_path / "secret"
    secret.write_text(SECRET)
    return Settings.model_validate(
        {
            "data_dir": str(tmp_path),
            "home_region": "us",
            "regions": {"us": {}, "eu": {}},
            "connections": {
                "sandbox_us": {
                    "provider": "sandbox",
                    "region": "us",
                    "secrets": [f"file:{secret}"],
                },
                "sandbox_eu": {
                    "provider": "sandbox",
                    "region": "eu",
                    "secrets": [f"file:{secret}"],
                },
            },
        }
    )


def test_a_lead_lives_only_in_its_region_and_is_found_from_any(tmp_path: Path) -> None:
    container = bootstrap(_settings(tmp_path), auto_migrate=True)
    lead_id = capture_lead(container.databases, LeadCapture(email="eva@example.eu", region="eu"))
    for region, expected in (("eu", 1), ("us", 0)):
        with container.databases[region].reader() as conn:
            count = conn.execute(select(func.count()).where(leads.c.id == lead_id)).scalar_one()
        assert count == expected
    assert (tmp_path / "eu.db").exists() and (tmp_path / "us.db").exists()
    assert lead_view(container.databases, lead_id)["region"] == "eu"


def test_no_outbox_row_is_written_for_a_destination_outside_the_region(tmp_path: Path) -> None:
    container = bootstrap(_settings(tmp_path), auto_migrate=True)
    us_only = DestinationSettings(kind="sandbox_crm", regions=["us"])
    both = DestinationSettings(kind="sandbox_crm", regions=["us", "eu"])
    container.destinations["us_crm"] = Destination("us_crm", us_only, RecordingConnector(), True)
    container.destinations["global"] = Destination("global", both, RecordingConnector(), True)
    eu = container.databases["eu"]
    with eu.transaction() as conn:
        insert_receipt(
            conn,
            ReceiptRow(
                region="eu",
                connection="sandbox_eu",
                dedup_key=uuid.uuid4().hex,
                source="webhook",
                content_type="application/json",
                headers={},
                body=event_body("document_sent", "sbx_eu_1", datetime.now(UTC)),
                received_at=datetime.now(UTC),
            ),
        )
    assert container.services.receipts.process_pending(eu) == 1
    with eu.reader() as conn:
        destinations = conn.execute(select(outbox.c.destination)).scalars().all()
        assert conn.execute(select(envelopes.c.region)).scalar_one() == "eu"
    assert destinations == ["global"]
    with container.databases["us"].reader() as conn:
        assert conn.execute(select(func.count()).select_from(envelopes)).scalar_one() == 0


def test_the_app_refuses_an_unmigrated_database_unless_told_to_migrate(tmp_path: Path) -> None:
    with pytest.raises(UnmigratedDatabase, match="inkbridge migrate"):
        bootstrap(_settings(tmp_path))
    bootstrap(_settings(tmp_path), auto_migrate=True)
    bootstrap(_settings(tmp_path))  # now it starts
