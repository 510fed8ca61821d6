"""A person's data through one sandbox region and where to look for it at rest: the journey
that captures a lead, sends and completes its envelope and links a hand-sent one by email;
every stored row as text; the SQLite file with its log as bytes; a config file for the CLI."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from inkbridge.bootstrap import Container
from inkbridge.store.database import Databases
from inkbridge.store.schema import metadata
from tests.support.api_calls import call_api
from tests.support.builders import SECRET, event_body, lifecycle_bodies, store_delivery
from tests.support.worker import deliver_all, drain_receipts


def personal_journey(
    container: Container,
    headers: dict[str, str],
    capture: dict[str, Any],
    *,
    by_hand: str,
    by_hand_email: str,
    signer_note: str,
) -> tuple[str, str]:
    """Capture the lead ``capture`` describes, send it an envelope, deliver its lifecycle and a
    view of the envelope ``by_hand`` (sent outside inkbridge) naming the lead by email, process
    and deliver everything: (lead id, envelope id)."""
    captured = call_api(container, "POST", "/v1/leads", headers=headers, json=capture)
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
            by_hand,
            start,
            recipient_id="7",
            recipient_email=by_hand_email,
            metadata={"signer_note": signer_note},
        ),
    )
    drain_receipts(container)
    asyncio.run(deliver_all(container))
    return lead_id, view["id"]


def stored_text(databases: Databases) -> str:
    """Every row of every table in the home region, as text (bytes as Latin-1, so nothing is
    hidden by a codec)."""
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


def sqlite_bytes(db_url: str) -> bytes:
    """The SQLite database file at ``db_url`` and its write-ahead log, as raw bytes."""
    path = Path(db_url.split("///", 1)[1])
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def cli_config(tmp_path: Path, db_url: str) -> Path:
    """A config file for the command line: one region ``default`` at ``db_url`` with the
    sandbox connection whose secret ``sandbox_container`` uses."""
    secret = tmp_path / "sandbox.secret"
    secret.write_text(SECRET)
    config = tmp_path / "inkbridge.toml"
    config.write_text(
        f'data_dir = "{tmp_path / "data"}"\n'
        f'[regions.default]\ndatabase_url = "{db_url}"\n'
        f'[connections.sandbox]\nprovider = "sandbox"\nsecrets = ["file:{secret}"]\n'
    )
    return config
