"""Encryption at rest on real databases: after capture, an envelope, its webhooks and their
delivery, no plaintext email, name or phone is in the database (the SQLite file and its WAL,
every PostgreSQL row as text), yet the API reads everything back, a hand-sent envelope is
linked by email, key rotation keeps it all readable, and a lost key is one clear error."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from inkbridge.bootstrap import Container, region_databases
from inkbridge.cli import main
from inkbridge.privacy.configured_keys import managed_dir
from inkbridge.services.leads import lead_view
from inkbridge.services.tokens import create_token
from inkbridge.store.database import Databases
from inkbridge.store.schema import data_keys, envelopes, metadata, webhook_receipts
from tests.support.api_calls import call_api
from tests.support.builders import (
    SECRET,
    event_body,
    lifecycle_bodies,
    sandbox_container,
    store_delivery,
)
from tests.support.fakes import RecordingConnector
from tests.support.worker import add_fake_destination, deliver_all, drain_receipts

EMAIL = "Ada.Lovelace@Example.org"
PERSON = {
    "email": EMAIL,
    "first_name": "Augusta",
    "last_name": "Byron-King",
    "company": "Analytical Engines Ltd",
    "phone": "+44 20 7946 0958",
}
# What must not be readable anywhere in a region's database.
NEEDLES = [
    "ada.lovelace",
    "Ada.Lovelace",
    "Augusta",
    "Byron-King",
    "Analytical Engines",
    "7946 0958",
    "7946",
]


@pytest.fixture
def stack(tmp_path: Path, db_url: str) -> Iterator[tuple[Container, dict[str, str], str]]:
    container = sandbox_container(tmp_path, db_url)
    add_fake_destination(container, "crm", RecordingConnector())
    _, token = create_token(container.databases, "test", ["admin"])
    yield container, {"Authorization": f"Bearer {token}"}, db_url
    container.databases.dispose()


def _journey(container: Container, auth: dict[str, str]) -> tuple[str, str]:
    """Capture a lead, send it an envelope, deliver its lifecycle and a hand-sent envelope's
    event naming the lead by email, process and deliver everything: (lead id, envelope id)."""
    captured = call_api(
        container,
        "POST",
        "/v1/leads",
        headers={**auth, "user-agent": "Mozilla/5.0 Lovelace-Browser"},
        json={
            **PERSON,
            "utm_source": "newsletter",
            "utm_campaign": "engines",
            "referrer": f"https://mail.example/open?u={EMAIL}",
            "landing_page": "https://www.example.com/?who=Augusta",
            "consents": [{"kind": "marketing_email"}],
        },
    )
    assert captured.status_code == 201, captured.text
    lead_id = captured.json()["id"]
    view = asyncio.run(
        container.services.envelopes.create_envelope(lead_id=lead_id, template_key="nda")
    )
    db = container.databases.home
    start = datetime.now(UTC) - timedelta(hours=1)
    for body in lifecycle_bodies(view["provider_envelope_id"], start):
        store_delivery(db, body)
    store_delivery(
        db,
        event_body(
            "document_viewed",
            "sbx_sent_by_hand",
            start,
            recipient_id="7",
            recipient_email=EMAIL.upper(),
            metadata={"signer_note": "Augusta Byron-King"},
        ),
    )
    drain_receipts(container)
    asyncio.run(deliver_all(container))
    return lead_id, view["id"]


def _stored_text(databases: Databases) -> str:
    """Every row of every table, as text (bytes as Latin-1, so nothing is hidden by a codec)."""
    parts: list[str] = []
    with databases.home.reader() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        parts.append(bytes(value).decode("latin-1"))
                    else:
                        parts.append(str(value))
    return "\n".join(parts)


def _sqlite_files(db_url: str) -> bytes:
    path = Path(db_url.split("///", 1)[1])
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def test_the_database_holds_no_plaintext_personal_data_and_the_api_reads_it_back(
    stack: tuple[Container, dict[str, str], str],
) -> None:
    container, auth, db_url = stack
    lead_id, envelope_id = _journey(container, auth)

    stored = _stored_text(container.databases)
    assert "newsletter" in stored  # the scan sees the rows: UTM fields are not personal
    assert [needle for needle in NEEDLES if needle.lower() in stored.lower()] == []
    if db_url.startswith("sqlite"):
        raw = _sqlite_files(db_url).lower()
        assert b"newsletter" in raw
        assert [n for n in NEEDLES if n.lower().encode() in raw] == []

    lead = call_api(container, "GET", f"/v1/leads/{lead_id}", headers=auth).json()
    assert {k: lead[k] for k in PERSON} == PERSON
    assert lead["first_touch"]["referrer"] == f"https://mail.example/open?u={EMAIL}"
    assert lead["first_touch"]["utm_campaign"] == "engines"
    envelope = call_api(container, "GET", f"/v1/envelopes/{envelope_id}", headers=auth).json()
    assert envelope["state"] == "completed"
    assert envelope["attribution"]["landing_page"] == "https://www.example.com/?who=Augusta"

    # The CRM received the person in the clear: only storage is sealed.
    crm = container.destinations["crm"].connector
    assert isinstance(crm, RecordingConnector)
    assert any((write["lead"] or {}).get("email") == EMAIL for write in crm.writes)

    # The envelope sent by hand was linked to the lead through the blind index.
    with container.databases.home.reader() as conn:
        by_hand = conn.execute(
            select(envelopes.c.lead_id).where(
                envelopes.c.provider_envelope_id == "sbx_sent_by_hand"
            )
        ).scalar_one()
        linked = (
            conn.execute(
                select(webhook_receipts.c.lead_id).where(webhook_receipts.c.lead_id.is_not(None))
            )
            .scalars()
            .all()
        )
    assert by_hand == lead_id
    assert set(linked) == {lead_id}


def _config(tmp_path: Path, db_url: str) -> Path:
    secret = tmp_path / "sandbox.secret"
    secret.write_text(SECRET)
    config = tmp_path / "inkbridge.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        f'[regions.default]\ndatabase_url = "{db_url}"\n'
        f'[connections.sandbox]\nprovider = "sandbox"\nsecrets = ["file:{secret}"]\n'
    )
    return config


def test_rotation_rewraps_every_key_and_everything_stays_readable(
    stack: tuple[Container, dict[str, str], str], tmp_path: Path
) -> None:
    container, auth, db_url = stack
    lead_id, _ = _journey(container, auth)
    old_key = container.databases.home.keyring.keys.current.id
    config = _config(tmp_path, db_url)

    result = CliRunner().invoke(
        main, ["keys", "rotate", "--region", "default", "--config", str(config)]
    )

    assert result.exit_code == 0, result.output
    assert "0 left under older keys" in result.output
    settings_databases = _databases(config)
    try:
        keys = settings_databases.home.keyring.keys
        assert keys.current.id != old_key and keys.previous == ()
        with settings_databases.home.reader() as conn:
            kek_ids = set(conn.execute(select(data_keys.c.kek_id)).scalars())
            receipt_kek_ids = set(conn.execute(select(webhook_receipts.c.body_kek_id)).scalars())
        assert kek_ids == receipt_kek_ids == {keys.current.id}
        assert {k: lead_view(settings_databases, lead_id)[k] for k in PERSON} == PERSON
    finally:
        settings_databases.dispose()
    # The retired key is kept aside, never read again.
    assert (managed_dir_of(tmp_path) / "retired" / f"{old_key}.key").exists()


def managed_dir_of(tmp_path: Path) -> Path:
    return tmp_path / "data" / "keys" / "default"


def _databases(config: Path) -> Databases:
    from inkbridge.config_sources import load_settings

    return region_databases(load_settings(config))


def test_a_lost_region_key_is_one_clear_error_from_every_command(
    stack: tuple[Container, dict[str, str], str], tmp_path: Path
) -> None:
    container, auth, db_url = stack
    _journey(container, auth)
    lost = container.databases.home.keyring.keys.current.id
    config = _config(tmp_path, db_url)
    shutil.rmtree(managed_dir(container.settings, "default"))

    for command in (["verify"], ["dlq", "list"], ["keys", "rotate", "--region", "default"]):
        result = CliRunner().invoke(main, [*command, "--config", str(config)])
        assert result.exit_code == 2, (command, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.output
        assert lines[0].startswith("error: region 'default'") and lost in lines[0]
