"""Builders: settings for a test region, signed sandbox deliveries, receipts."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from inkbridge.config import Settings
from inkbridge.providers.standard_webhooks import signed_headers

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


def event_body(
    event_type: str,
    provider_envelope_id: str,
    occurred_at: datetime,
    recipient_id: str | None = None,
    metadata: dict[str, str] | None = None,
) -> bytes:
    return json.dumps(
        {
            "type": event_type,
            "timestamp": datetime.now(UTC).isoformat(),
            "data": {
                "envelope_id": provider_envelope_id,
                "occurred_at": occurred_at.isoformat(),
                "recipient_id": recipient_id,
                "recipient_email": None,
                "metadata": metadata or {},
            },
        }
    ).encode()


def signed(body: bytes, msg_id: str | None = None, secret: str = SECRET) -> dict[str, str]:
    msg = msg_id or f"msg_{uuid.uuid4().hex}"
    headers = signed_headers(secret, msg, int(datetime.now(UTC).timestamp()), body)
    headers["content-type"] = "application/json"
    return headers
