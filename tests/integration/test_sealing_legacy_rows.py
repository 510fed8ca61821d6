"""An upgraded region's rows written before encryption at rest (plain values, the old unkeyed
email hash, receipts without their own key) are sealed in place by `inkbridge keys seal`: the
database (and the SQLite file with its log) holds no plain personal value afterwards, every
read returns what it returned before, the email still finds the lead, the consent ledger still
verifies, and a second run seals nothing. Both backends."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import Connection, select, update

from inkbridge.bootstrap import Container
from inkbridge.cli import main
from inkbridge.ids import hash_identifier
from inkbridge.services.leads import lead_view
from inkbridge.services.tokens import create_token
from inkbridge.store import consents, receipt_bodies, sealed_fields
from inkbridge.store import leads as lead_rows
from inkbridge.store.schema import (
    audit_log,
    envelopes,
    leads,
    metadata,
    outbox,
    recipients,
    touchpoints,
    webhook_receipts,
)
from inkbridge.store.schema_governance import signer_sessions
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

EMAIL = "Grace.Hopper@Example.net"
PERSON = {
    "email": EMAIL,
    "first_name": "Gracewell",
    "last_name": "Hopperstone",
    "company": "Cobol Compilers Inc",
    "phone": "+1 202 555 0147",
}
NEEDLES = [
    "grace.hopper",
    "Gracewell",
    "Hopperstone",
    "Cobol Compilers",
    "555 0147",
    "Moth-Browser",
]
NOW = datetime(2026, 12, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def stack(tmp_path: Path, db_url: str) -> Iterator[tuple[Container, dict[str, str]]]:
    container = sandbox_container(tmp_path, db_url)
    add_fake_destination(container, "crm", RecordingConnector())
    _, token = create_token(container.databases, "test", ["admin"])
    yield container, {"Authorization": f"Bearer {token}"}
    container.databases.dispose()


def _journey(container: Container, auth: dict[str, str]) -> tuple[str, str]:
    captured = call_api(
        container,
        "POST",
        "/v1/leads",
        headers=auth,
        json={
            **PERSON,
            "utm_source": "newsletter",
            "referrer": f"https://mail.example/open?u={EMAIL}",
            "landing_page": "https://www.example.com/?who=Gracewell",
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
            "sbx_by_hand",
            start,
            recipient_id="7",
            recipient_email=EMAIL,
            metadata={"signer_note": "Gracewell Hopperstone"},
        ),
    )
    drain_receipts(container)
    asyncio.run(deliver_all(container))
    with db.transaction() as conn:
        conn.execute(
            signer_sessions.insert().values(
                id="ss1",
                envelope_id=view["id"],
                recipient_id="1",
                token_hash="t" * 64,
                subject_hash="s" * 64,
                auth_method="sso",
                authenticated_at=NOW,
                issued_at=NOW,
                expires_at=NOW,
                redeemed_at=NOW,
                redeemed_ip=sealed_fields.seal_text(
                    conn, ("envelope", view["id"]), "signer_sessions.redeemed_ip", "203.0.113.0"
                ),
                redeemed_user_agent=sealed_fields.seal_text(
                    conn,
                    ("envelope", view["id"]),
                    "signer_sessions.redeemed_user_agent",
                    "Moth-Browser/1.0",
                ),
            )
        )
    return lead_id, view["id"]


def _as_before_encryption(conn: Connection) -> None:
    """Every sealed personal value written back plain, as the code before migration 0011 stored
    it (the consent evidence stays: its chain hashed the sealed value)."""
    for row in conn.execute(select(leads)).all():
        opened = lead_rows.opened(conn, dict(row._mapping))
        plain = {name: opened[name] for name in lead_rows.PERSONAL}
        conn.execute(
            update(leads)
            .where(leads.c.id == row.id)
            .values(
                **plain,
                email_hash=hash_identifier(opened["email"]),
                first_touch=opened["first_touch"],
            )
        )
    _plain_texts(conn, touchpoints, touchpoints.c.id, sealed_fields.URL_FIELDS)
    _plain_texts(
        conn, signer_sessions, signer_sessions.c.id, ("redeemed_ip", "redeemed_user_agent")
    )
    for row in conn.execute(select(recipients)).all():
        conn.execute(
            update(recipients)
            .where(
                recipients.c.envelope_id == row.envelope_id,
                recipients.c.recipient_id == row.recipient_id,
            )
            .values(
                email=sealed_fields.open_text(conn, "recipients.email", row.email),
                name=sealed_fields.open_text(conn, "recipients.name", row.name),
            )
        )
    for row in conn.execute(select(envelopes)).all():
        conn.execute(
            update(envelopes)
            .where(envelopes.c.id == row.id)
            .values(
                metadata=sealed_fields.open_json(conn, "envelopes.metadata", row.metadata),
                attribution=sealed_fields.open_urls(conn, "envelopes.attribution", row.attribution),
            )
        )
    for row in conn.execute(select(outbox)).all():
        conn.execute(
            update(outbox)
            .where(outbox.c.id == row.id)
            .values(payload=sealed_fields.open_json(conn, "outbox.payload", row.payload))
        )
    keyring = sealed_fields.keyring_of(conn)
    for row in conn.execute(select(webhook_receipts)).all():
        headers, body = receipt_bodies.opened(keyring, row)
        conn.execute(
            update(webhook_receipts)
            .where(webhook_receipts.c.id == row.id)
            .values(headers=headers, body=body, body_key=None, body_kek_id=None)
        )


def _plain_texts(conn: Connection, table: Any, key: Any, names: tuple[str, ...]) -> None:
    for row in conn.execute(select(table)).all():
        values = {
            n: sealed_fields.open_text(conn, f"{table.name}.{n}", row._mapping[n]) for n in names
        }
        conn.execute(update(table).where(key == row._mapping[key.name]).values(**values))


def _stored_text(container: Container) -> str:
    parts: list[str] = []
    with container.databases.home.reader() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        parts.append(bytes(value).decode("latin-1"))
                    else:
                        parts.append(str(value))
    return "\n".join(parts).lower()


def _sqlite_files(container: Container) -> bytes:
    path = Path(container.databases.home.url.split("///", 1)[1])
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists()).lower()


def _reads(container: Container, auth: dict[str, str], lead_id: str, envelope_id: str) -> Any:
    db = container.databases.home
    with db.reader() as conn:
        bodies = [
            receipt_bodies.opened(db.keyring, row)
            for row in conn.execute(select(webhook_receipts).order_by(webhook_receipts.c.id))
        ]
        payloads = [
            sealed_fields.open_json(conn, "outbox.payload", p)
            for p in conn.execute(select(outbox.c.payload).order_by(outbox.c.id)).scalars()
        ]
        sessions = [
            (
                sealed_fields.open_text(conn, "signer_sessions.redeemed_ip", r.redeemed_ip),
                sealed_fields.open_text(
                    conn, "signer_sessions.redeemed_user_agent", r.redeemed_user_agent
                ),
            )
            for r in conn.execute(select(signer_sessions))
        ]
    envelope = call_api(container, "GET", f"/v1/envelopes/{envelope_id}", headers=auth).json()
    lead = call_api(container, "GET", f"/v1/leads/{lead_id}", headers=auth).json()
    return lead, envelope, lead_view(container.databases, lead_id), bodies, payloads, sessions


def _config(tmp_path: Path, container: Container) -> Path:
    secret = tmp_path / "sandbox.secret"
    secret.write_text(SECRET)
    config = tmp_path / "inkbridge.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        f'[regions.default]\ndatabase_url = "{container.databases.home.url}"\n'
        f'[connections.sandbox]\nprovider = "sandbox"\nsecrets = ["file:{secret}"]\n'
    )
    return config


def test_sealing_an_upgraded_region_leaves_no_plain_personal_value_and_changes_no_read(
    stack: tuple[Container, dict[str, str]], tmp_path: Path
) -> None:
    container, auth = stack
    lead_id, envelope_id = _journey(container, auth)
    db = container.databases.home
    with db.transaction() as conn:
        _as_before_encryption(conn)
    before = _reads(container, auth, lead_id, envelope_id)
    assert {k: before[0][k] for k in PERSON} == PERSON
    assert before[5] == [("203.0.113.0", "Moth-Browser/1.0")]
    stored = _stored_text(container)
    assert [n for n in NEEDLES if n.lower() not in stored] == []  # the rows are plain now
    config = _config(tmp_path, container)

    first = CliRunner().invoke(
        main, ["keys", "seal", "--region", "default", "--batch", "2", "--config", str(config)]
    )

    assert first.exit_code == 0, first.output
    counts = dict(
        line.strip().rsplit(": ", 1) for line in first.output.splitlines() if line.startswith("  ")
    )
    for column in (
        "leads.email",
        "leads.email_hash",
        "leads.first_touch",
        "touchpoints.referrer",
        "recipients.email",
        "envelopes.metadata",
        "envelopes.attribution",
        "signer_sessions.redeemed_user_agent",
        "webhook_receipts.body",
        "outbox.payload",
    ):
        assert int(counts[column]) >= 1, (column, first.output)
    stored = _stored_text(container)
    assert "newsletter" in stored
    assert [n for n in NEEDLES if n.lower() in stored] == []
    assert hash_identifier(EMAIL) not in stored
    if db.is_sqlite:
        raw = _sqlite_files(container)
        assert b"newsletter" in raw
        assert [n for n in NEEDLES if n.lower().encode() in raw] == []

    assert _reads(container, auth, lead_id, envelope_id) == before
    with db.reader() as conn:
        found = lead_rows.latest_by_email(conn, EMAIL.upper())
        assert found is not None and found["id"] == lead_id
        assert consents.verify_ledgers(conn, "default") == []
        audited = (
            conn.execute(select(audit_log.c.details).where(audit_log.c.action == "cli:keys:sealed"))
            .scalars()
            .all()
        )
    assert len(audited) == 1 and audited[0]["sealed"]["leads.email"] == 1

    again = CliRunner().invoke(
        main, ["keys", "seal", "--region", "default", "--config", str(config)]
    )

    assert again.exit_code == 0, again.output
    assert "default: 0 values sealed" in again.output
    assert _reads(container, auth, lead_id, envelope_id) == before
