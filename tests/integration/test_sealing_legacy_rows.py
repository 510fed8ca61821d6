"""An upgraded region's rows written before encryption at rest (plain values, the old unkeyed
email hash, receipts without their own key) are sealed in place by `inkbridge keys seal`: the
database (and the SQLite file with its log) holds no plain personal value afterwards, every
read returns what it returned before, the email still finds the lead, the consent ledger still
verifies, and a second run seals nothing. Both backends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import Connection, Row, Table, select, update

from inkbridge.bootstrap import Container
from inkbridge.cli import main
from inkbridge.ids import hash_identifier
from inkbridge.services.leads import lead_view
from inkbridge.store import consents, receipt_bodies, sealed_fields
from inkbridge.store import leads as lead_rows
from inkbridge.store.schema import (
    audit_log,
    envelopes,
    leads,
    outbox,
    recipients,
    touchpoints,
    webhook_receipts,
)
from inkbridge.store.schema_governance import signer_sessions
from tests.support.api_calls import call_api
from tests.support.personal_data import cli_config, personal_journey, sqlite_bytes, stored_text

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


def _journey(container: Container, auth: dict[str, str]) -> tuple[str, str]:
    """The person's journey, then a redeemed signing session of their envelope."""
    lead_id, envelope_id = personal_journey(
        container,
        auth,
        {
            **PERSON,
            "utm_source": "newsletter",
            "referrer": f"https://mail.example/open?u={EMAIL}",
            "landing_page": "https://www.example.com/?who=Gracewell",
            "consents": [{"kind": "marketing_email"}],
        },
        by_hand="sbx_by_hand",
        by_hand_email=EMAIL,
        signer_note="Gracewell Hopperstone",
    )
    db = container.databases.home
    with db.transaction() as conn:
        conn.execute(
            signer_sessions.insert().values(
                id="ss1",
                envelope_id=envelope_id,
                recipient_id="1",
                token_hash="t" * 64,
                subject_hash="s" * 64,
                auth_method="sso",
                authenticated_at=NOW,
                issued_at=NOW,
                expires_at=NOW,
                redeemed_at=NOW,
                redeemed_ip=sealed_fields.seal_text(
                    conn, ("envelope", envelope_id), "signer_sessions.redeemed_ip", "203.0.113.0"
                ),
                redeemed_user_agent=sealed_fields.seal_text(
                    conn,
                    ("envelope", envelope_id),
                    "signer_sessions.redeemed_user_agent",
                    "Moth-Browser/1.0",
                ),
            )
        )
    return lead_id, envelope_id


def _as_before_encryption(conn: Connection) -> None:
    """Every sealed personal value written back plain, as the code before migration 0011 stored
    it (the consent evidence stays: its chain hashed the sealed value)."""

    def plain_lead(row: Row[Any]) -> dict[str, Any]:
        opened = lead_rows.opened(conn, dict(row._mapping))
        return {
            **{name: opened[name] for name in lead_rows.PERSONAL},
            "email_hash": hash_identifier(opened["email"]),
            "first_touch": opened["first_touch"],
        }

    def plain_texts(table: Table, names: tuple[str, ...]) -> Callable[[Row[Any]], dict[str, Any]]:
        return lambda row: {
            n: sealed_fields.open_text(conn, f"{table.name}.{n}", row._mapping[n]) for n in names
        }

    def plain_receipt(row: Row[Any]) -> dict[str, Any]:
        headers, body = receipt_bodies.opened(keyring, row)
        return {"headers": headers, "body": body, "body_key": None, "body_kek_id": None}

    keyring = sealed_fields.keyring_of(conn)
    _rewrite(conn, leads, ("id",), plain_lead)
    _rewrite(conn, touchpoints, ("id",), plain_texts(touchpoints, sealed_fields.URL_FIELDS))
    sessions = plain_texts(signer_sessions, ("redeemed_ip", "redeemed_user_agent"))
    _rewrite(conn, signer_sessions, ("id",), sessions)
    recipient = plain_texts(recipients, ("email", "name"))
    _rewrite(conn, recipients, ("envelope_id", "recipient_id"), recipient)
    _rewrite(
        conn,
        envelopes,
        ("id",),
        lambda row: {
            "metadata": sealed_fields.open_json(conn, "envelopes.metadata", row.metadata),
            "attribution": sealed_fields.open_urls(conn, "envelopes.attribution", row.attribution),
        },
    )
    _rewrite(
        conn,
        outbox,
        ("id",),
        lambda row: {"payload": sealed_fields.open_json(conn, "outbox.payload", row.payload)},
    )
    _rewrite(conn, webhook_receipts, ("id",), plain_receipt)


def _rewrite(
    conn: Connection,
    table: Table,
    keys: tuple[str, ...],
    plain: Callable[[Row[Any]], dict[str, Any]],
) -> None:
    """Every row of ``table`` (found again by its ``keys``) updated to the values ``plain``
    gives for it."""
    for row in conn.execute(select(table)).all():
        found = [table.c[key] == row._mapping[key] for key in keys]
        conn.execute(update(table).where(*found).values(**plain(row)))


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


def test_sealing_an_upgraded_region_leaves_no_plain_personal_value_and_changes_no_read(
    admin_stack: tuple[Container, dict[str, str]], tmp_path: Path
) -> None:
    container, auth = admin_stack
    lead_id, envelope_id = _journey(container, auth)
    db = container.databases.home
    with db.transaction() as conn:
        _as_before_encryption(conn)
    before = _reads(container, auth, lead_id, envelope_id)
    assert {k: before[0][k] for k in PERSON} == PERSON
    assert before[5] == [("203.0.113.0", "Moth-Browser/1.0")]
    stored = stored_text(container.databases).lower()
    assert [n for n in NEEDLES if n.lower() not in stored] == []  # the rows are plain now
    config = cli_config(tmp_path, db.url)

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
    stored = stored_text(container.databases).lower()
    assert "newsletter" in stored
    assert [n for n in NEEDLES if n.lower() in stored] == []
    assert hash_identifier(EMAIL) not in stored
    if db.is_sqlite:
        raw = sqlite_bytes(db.url).lower()
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
