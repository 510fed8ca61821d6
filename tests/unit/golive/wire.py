"""What the golive format tests share: the test event golive sends (as the sandbox writes it)
and the request a deployment's adapter receives for a signed delivery."""

from __future__ import annotations

from datetime import UTC, datetime

from inkbridge.golive.vendor_bodies import GoliveEvent
from inkbridge.golive.vendor_formats import Signed
from inkbridge.providers.base import InboundRequest
from inkbridge.sandbox.provider_wire import build_event, encode_event

OCCURRED = datetime(2026, 3, 2, 10, 15, 42, tzinfo=UTC)
# Every event golive sends, as inkbridge names it.
KINDS_SENT = (
    "document_sent",
    "document_viewed",
    "recipient_signed",
    "document_completed",
    "document_declined",
)


def golive_event(kind: str) -> GoliveEvent:
    body = encode_event(
        build_event(
            kind,
            envelope_id="golive-abc-signed-1",
            occurred_at=OCCURRED,
            metadata={"inkbridge_lead_id": "lead_golive", "golive_run": "abc"},
            recipient_id="golive-signer",
            recipient_email="golive-abc@example.invalid",
        )
    )
    return GoliveEvent.from_sandbox(body)


def inbound_request(
    signed: Signed, connection: str = "c", at: datetime | None = None
) -> InboundRequest:
    return InboundRequest(
        connection=connection,
        method="POST",
        headers={k.lower(): v for k, v in signed.headers.items()},
        query=dict(signed.query),
        body=signed.body,
        received_at=at or datetime.now(UTC),
    )
