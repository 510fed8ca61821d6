"""Builders: settings for a test region, signed sandbox deliveries, receipts."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from inkbridge.bootstrap import Container, bootstrap
from inkbridge.config import Settings
from inkbridge.providers.sandbox.client import SandboxProviderClient
from inkbridge.sandbox.provider import create_provider_app
from inkbridge.store.database import RegionDatabase
from inkbridge.store.receipt_inserts import ReceiptRow, insert_receipt
from inkbridge.vendor_http.signing import signed_headers

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def make_settings(tmp_path: Path, db_url: str, **extra: Any) -> Settings:
    secret_file = tmp_path / "sandbox.secret"
    secret_file.write_text(SECRET)
    tree: dict[str, Any] = {
        "data_dir": str(tmp_path / "data"),
        "regions": {"default": {"database_url": db_url}},
        "connections": {"sandbox": {"provider": "sandbox", "secrets": [f"file:{secret_file}"]}},
        "destinations": {},
        "templates": {"nda": {"title": "Mutual NDA", "version": 3}},
        "worker": {"poll_interval_seconds": 0.05},
    }
    tree.update(extra)
    return Settings.model_validate(tree)


# A signed lifecycle: (event type, recipient id, minutes after the start).
LIFECYCLE = (
    ("document_sent", None, 0),
    ("document_viewed", "1", 5),
    ("recipient_signed", "1", 9),
    ("document_completed", None, 10),
)


def lifecycle_bodies(provider_envelope_id: str, start: datetime) -> list[bytes]:
    """The sandbox webhook bodies of one whole lifecycle, in order."""
    return [
        event_body(kind, provider_envelope_id, start + timedelta(minutes=minute), recipient)
        for kind, recipient, minute in LIFECYCLE
    ]


def event_body(
    event_type: str,
    provider_envelope_id: str,
    occurred_at: datetime,
    recipient_id: str | None = None,
    metadata: dict[str, str] | None = None,
    recipient_email: str | None = None,
) -> bytes:
    return json.dumps(
        {
            "type": event_type,
            "timestamp": datetime.now(UTC).isoformat(),
            "data": {
                "envelope_id": provider_envelope_id,
                "occurred_at": occurred_at.isoformat(),
                "recipient_id": recipient_id,
                "recipient_email": recipient_email,
                "metadata": metadata or {},
            },
        }
    ).encode()


def signed(body: bytes, msg_id: str | None = None, secret: str = SECRET) -> dict[str, str]:
    msg = msg_id or f"msg_{uuid.uuid4().hex}"
    headers = signed_headers(secret, msg, int(datetime.now(UTC).timestamp()), body)
    headers["content-type"] = "application/json"
    return headers


def sandbox_provider_app() -> Starlette:
    """The sandbox provider as an app to call in-process; its webhooks go nowhere."""
    return create_provider_app(
        state_path=None,
        webhook_url="http://127.0.0.1:9/unused",
        webhook_secret=SECRET,
        public_url="http://sandbox",
    )


def sandbox_container(
    tmp_path: Path, db_url: str, provider_app: Starlette | None = None
) -> Container:
    """A migrated container whose sandbox provider runs in-process (envelopes can be created
    through the real service); its webhooks go nowhere, tests deliver them with
    ``store_delivery``. The caller disposes of ``container.databases``."""
    built = bootstrap(make_settings(tmp_path, db_url), auto_migrate=True)
    transport = httpx.ASGITransport(app=provider_app or sandbox_provider_app())
    built.providers["sandbox"] = SandboxProviderClient(
        "http://sandbox", httpx.AsyncClient(transport=transport, base_url="http://sandbox")
    )
    return built


def store_delivery(
    db: RegionDatabase,
    body: bytes,
    connection: str = "sandbox",
    received_at: datetime | None = None,
) -> int:
    """Store ``body`` as a sandbox webhook receipt with a fresh delivery id (what the hot path
    does once a delivery is verified), for tests that then run the worker's processing; the
    stored receipt's id."""
    with db.transaction() as conn:
        receipt_id, _ = insert_receipt(
            conn,
            ReceiptRow(
                region=db.region,
                connection=connection,
                dedup_key=uuid.uuid4().hex,
                source="webhook",
                content_type="application/json",
                headers={},
                body=body,
                received_at=received_at or datetime.now(UTC),
            ),
        )
    return receipt_id
