"""What the webhook hot path tests share: the connection and its secrets, deliveries signed with
the official ``standardwebhooks`` package, receipt rows and counts, and the ingest client."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from math import floor

import httpx
from pydantic import SecretStr
from sqlalchemy import func, select
from standardwebhooks.webhooks import Webhook

from inkbridge import metrics
from inkbridge.providers.registry import ConnectionBinding
from inkbridge.providers.standard_webhooks.adapter import StandardWebhooksAdapter
from inkbridge.store.database import RegionDatabase
from inkbridge.store.receipt_inserts import ReceiptRow
from inkbridge.store.schema import webhook_receipts

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ROTATED_OUT = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"  # the previous secret, still accepted
STRANGER = "whsec_dGhpcyBpcyBub3Qgb3VyIHNlY3JldCBhdCBhbGw="
CONNECTION = "sandbox"
URL = f"/v1/webhooks/{CONNECTION}"
MAX_BODY = 4096


def event_body(envelope: str = "env-1", kind: str = "document_sent") -> str:
    return json.dumps(
        {
            "type": kind,
            "timestamp": "2024-05-01T10:00:00Z",
            "data": {"envelope_id": envelope, "occurred_at": "2024-05-01T10:00:00Z"},
        }
    )


def signed_headers(
    body: str, msg_id: str, secret: str = SECRET, at: datetime | None = None
) -> dict[str, str]:
    moment = at or datetime.now(UTC)
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(floor(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, moment, body),
    }


def _now_offset(seconds: int) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def count_receipts(db: RegionDatabase) -> int:
    with db.reader() as conn:
        return int(conn.execute(select(func.count()).select_from(webhook_receipts)).scalar_one())


def webhook_count(outcome: str, connection: str = CONNECTION) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "inkbridge_webhooks_total", {"connection": connection, "outcome": outcome}
    )
    return value or 0.0


def receipt_row(key: str) -> ReceiptRow:
    return ReceiptRow(
        region="default",
        connection=CONNECTION,
        dedup_key=key,
        source="webhook",
        content_type="application/json",
        headers={"webhook-id": key},
        body=event_body(key).encode(),
        received_at=datetime.now(UTC),
    )


@dataclass
class Ingest:
    client: httpx.AsyncClient
    db: RegionDatabase

    async def deliver(
        self, body: str, msg_id: str, secret: str = SECRET, at: datetime | None = None
    ) -> httpx.Response:
        return await self.client.post(
            URL, content=body.encode(), headers=signed_headers(body, msg_id, secret, at)
        )


def binding() -> ConnectionBinding:
    adapter = StandardWebhooksAdapter(
        [SecretStr(SECRET), SecretStr(ROTATED_OUT)], provider="standard_webhooks"
    )
    return ConnectionBinding(
        name=CONNECTION,
        region="default",
        provider="standard_webhooks",
        adapter=adapter,
        max_body_bytes=MAX_BODY,
    )
