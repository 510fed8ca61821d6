"""The test mark and the sandbox twin on a real database (SQLite and PostgreSQL): every outbox
change about a golive test lead carries ``"test": true`` and a real lead's is left as it was; a
destination with ``golive_twin = "sandbox"`` gets the real lead's changes while the test lead's,
its erasure included, go to the twin's own write log and never to the destination."""

from __future__ import annotations

import asyncio
from pathlib import Path

from inkbridge.bootstrap import Container, build_connector
from inkbridge.config import DestinationSettings
from inkbridge.connectors.twin import TwinnedConnector
from inkbridge.sandbox.crm_store import CrmStore
from inkbridge.sandbox.twin import SandboxTwin, twin_path
from inkbridge.services.golive_namespace import erase_test_lead
from inkbridge.services.leads import LeadCapture, capture_lead, update_lead
from inkbridge.services.routing import Destination
from tests.support.fakes import RecordingConnector
from tests.support.worker import add_fake_destination, deliver_all

PERSON = "ada@example.com"
TEST_LEAD = "golive-run-1@example.invalid"


def _twinned(container: Container, tmp_path: Path, name: str) -> tuple[RecordingConnector, Path]:
    """Destination ``name``: a recording vendor with a sandbox twin in ``tmp_path``."""
    vendor, path = RecordingConnector(name=name), tmp_path / f"twin-{name}.db"
    settings = DestinationSettings(kind="sandbox_crm", golive_twin="sandbox")
    connector = TwinnedConnector(vendor, SandboxTwin(name, path))
    container.destinations[name] = Destination(name, settings, connector, coalesce=True)
    return vendor, path


def _captured_and_updated(container: Container, email: str) -> str:
    lead_id = capture_lead(container.databases, LeadCapture(email=email, first_name="Ada"))
    update_lead(
        container.databases, lead_id, {"owner": "grace"}, destinations=container.destinations
    )
    return lead_id


def test_a_test_leads_changes_are_marked_and_a_persons_are_not(container: Container) -> None:
    crm = add_fake_destination(container, "crm", RecordingConnector(name="crm"), role="crm")
    person = _captured_and_updated(container, PERSON)
    test_lead = _captured_and_updated(container, TEST_LEAD)
    asyncio.run(deliver_all(container))

    assert crm.records[f"lead:{test_lead}"]["test"] is True
    assert "test" not in crm.records[f"lead:{person}"]
    assert crm.records[f"lead:{person}"]["lead"]["email"] == PERSON


def test_a_twinned_destination_gets_only_the_persons_changes(
    container: Container, tmp_path: Path
) -> None:
    vendor, path = _twinned(container, tmp_path, "vendor")
    person = _captured_and_updated(container, PERSON)
    test_lead = _captured_and_updated(container, TEST_LEAD)
    asyncio.run(deliver_all(container))

    assert {w["record"] for w in vendor.writes} == {f"lead:{person}"}
    twin = CrmStore(path)
    try:
        writes = twin.writes()
        assert {w["record_id"] for w in writes} == {f"lead:{test_lead}"}
        assert all(w["properties"]["inkbridge_test"] == "true" for w in writes)

        erase_test_lead(
            container.databases, test_lead, destinations=container.destinations, actor="golive"
        )
        asyncio.run(deliver_all(container))
        assert twin.records_naming(test_lead) == []
        assert twin.erasures()[-1]["lead_id"] == test_lead
    finally:
        twin.close()
    assert all(w["kind"] != "lead.erased" for w in vendor.writes)


def test_the_composition_root_gives_a_twinned_destination_its_twin(container: Container) -> None:
    settings = container.settings
    dest = DestinationSettings(kind="sandbox_crm", golive_twin="sandbox")
    built = build_connector(settings, "crm", dest, container.http)
    assert isinstance(built.connector, TwinnedConnector)
    assert isinstance(built.connector.twin, SandboxTwin)
    assert built.connector.twin.path == twin_path(settings.data_dir, "crm")
    plain = build_connector(
        settings, "crm", DestinationSettings(kind="sandbox_crm"), container.http
    )
    assert not isinstance(plain.connector, TwinnedConnector)
