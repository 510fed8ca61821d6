"""A sender without a native adapter, connected by configuration alone: ``acme`` speaks its own
event names over Standard Webhooks (the mapping onto inkbridge's events and paths)."""

from __future__ import annotations

from typing import Any

ACME_MAPPING: dict[str, Any] = {
    "events": {
        "envelope.sent": "sent",
        "envelope.viewed": "viewed",
        "signer.signed": "signed",
        "envelope.completed": "completed",
        "envelope.declined": "declined",
    },
    "occurred_at": "timestamp",
    "recipient_id": "data.signer.id",
    "recipient_email": "/data/signer/email",
}
