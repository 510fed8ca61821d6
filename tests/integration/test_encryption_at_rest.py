"""Encryption at rest on real databases: after capture, an envelope, its webhooks and their
delivery, no plaintext email, name or phone is in the database (the SQLite file and its WAL,
every PostgreSQL row as text), yet the API reads everything back, a hand-sent envelope is
linked by email, key rotation keeps it all readable, and a lost key is one clear error."""

from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from inkbridge.bootstrap import Container, region_databases
from inkbridge.cli import main
from inkbridge.privacy.configured_keys import managed_dir
from inkbridge.services.leads import lead_view
from inkbridge.store.database import Databases
from inkbridge.store.schema import data_keys, envelopes, webhook_receipts
from tests.support.api_calls import call_api
from tests.support.fakes import RecordingConnector
from tests.support.personal_data import cli_config, personal_journey, sqlite_bytes, stored_text

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
    # The phone's digits without spaces; four digits alone turn up by chance in random ids.
    "79460958",
]


def _journey(container: Container, auth: dict[str, str]) -> tuple[str, str]:
    """The person's journey, captured from a browser whose user agent is recorded, with a
    hand-sent envelope naming them by their email in capitals."""
    return personal_journey(
        container,
        {**auth, "user-agent": "Mozilla/5.0 Lovelace-Browser"},
        {
            **PERSON,
            "utm_source": "newsletter",
            "utm_campaign": "engines",
            "referrer": f"https://mail.example/open?u={EMAIL}",
            "landing_page": "https://www.example.com/?who=Augusta",
            "consents": [{"kind": "marketing_email"}],
        },
        by_hand="sbx_sent_by_hand",
        by_hand_email=EMAIL.upper(),
        signer_note="Augusta Byron-King",
    )


def test_the_database_holds_no_plaintext_personal_data_and_the_api_reads_it_back(
    admin_stack: tuple[Container, dict[str, str]], db_url: str
) -> None:
    container, auth = admin_stack
    lead_id, envelope_id = _journey(container, auth)

    stored = stored_text(container.databases)
    assert "newsletter" in stored  # the scan sees the rows: UTM fields are not personal
    assert [needle for needle in NEEDLES if needle.lower() in stored.lower()] == []
    if db_url.startswith("sqlite"):
        raw = sqlite_bytes(db_url).lower()
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


def test_rotation_rewraps_every_key_and_everything_stays_readable(
    admin_stack: tuple[Container, dict[str, str]], db_url: str, tmp_path: Path
) -> None:
    container, auth = admin_stack
    lead_id, _ = _journey(container, auth)
    old_key = container.databases.home.keyring.keys.current.id
    config = cli_config(tmp_path, db_url)

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
    admin_stack: tuple[Container, dict[str, str]], db_url: str, tmp_path: Path
) -> None:
    container, auth = admin_stack
    _journey(container, auth)
    lost = container.databases.home.keyring.keys.current.id
    config = cli_config(tmp_path, db_url)
    shutil.rmtree(managed_dir(container.settings, "default"))

    for command in (["verify"], ["dlq", "list"], ["keys", "rotate", "--region", "default"]):
        result = CliRunner().invoke(main, [*command, "--config", str(config)])
        assert result.exit_code == 2, (command, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.output
        assert lines[0].startswith("error: region 'default'") and lost in lines[0]
