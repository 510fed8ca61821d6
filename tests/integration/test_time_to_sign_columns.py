"""The time-to-sign columns of ``envelopes`` follow the milestones through the real pipeline:
an envelope created for a lead, one first seen in a webhook (linked by metadata or not linked at
all), events out of order with a late, earlier ``sent``, and a replay from the event log."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from inkbridge.bootstrap import Container
from inkbridge.domain.attribution import Touchpoint
from inkbridge.domain.intervals import INTERVAL_COLUMNS
from inkbridge.services.leads import LeadCapture, capture_lead
from inkbridge.services.replay import rebuild_all
from inkbridge.services.reports import time_to_sign_report
from inkbridge.store.schema import envelopes
from tests.support.builders import event_body, store_delivery
from tests.support.worker import drain_receipts

# The lead is created a quarter of a millisecond after the hour.
CREATED = datetime(2026, 3, 1, 9, 0, 0, 250, tzinfo=UTC)
H, MIN, US = timedelta(hours=1), timedelta(minutes=1), timedelta(microseconds=1)


def _lead(container: Container) -> str:
    capture = LeadCapture(
        email="ada@example.com", touchpoints=(Touchpoint(occurred_at=CREATED, utm_medium="cpc"),)
    )
    return capture_lead(container.databases, capture, now=CREATED)


def _receive(container: Container, *events: tuple[str, str, datetime, dict[str, str]]) -> None:
    """Deliver each (event type, provider envelope id, moment, metadata) and process it."""
    for kind, ref, at, metadata in events:
        body = event_body(kind, ref, at, recipient_id="1", metadata=metadata)
        store_delivery(container.databases.home, body)
        drain_receipts(container)


def _row(container: Container, provider_ref: str) -> Any:
    with container.databases.home.reader() as conn:
        return conn.execute(
            select(envelopes).where(envelopes.c.provider_envelope_id == provider_ref)
        ).one()


def _intervals(row: Any) -> dict[str, int | None]:
    return {name: getattr(row, name) for name in INTERVAL_COLUMNS}


def test_an_envelope_created_for_a_lead_keeps_its_intervals_with_its_milestones(
    container: Container,
) -> None:
    lead_id = _lead(container)
    view = asyncio.run(
        container.services.envelopes.create_envelope(lead_id=lead_id, template_key="nda")
    )
    ref = view["provider_envelope_id"]
    row = _row(container, ref)
    assert row.lead_created_at == CREATED
    assert _intervals(row) == dict.fromkeys(INTERVAL_COLUMNS)

    sent = CREATED + 2 * H
    _receive(container, ("document_sent", ref, sent, {}))
    assert _row(container, ref).lead_to_sent_ms == 7_200_000
    _receive(
        container,
        ("document_viewed", ref, sent + 30 * MIN, {}),
        ("reminder_sent", ref, sent + 2 * H, {}),
        ("document_completed", ref, CREATED + 24 * H, {}),
    )
    assert _intervals(_row(container, ref)) == {
        "lead_to_sent_ms": 7_200_000,
        "sent_to_first_view_ms": 1_800_000,
        "first_view_to_completed_ms": 77_400_000,  # 21.5 h
        "sent_to_first_reminder_ms": 7_200_000,
        "sent_to_completed_ms": 79_200_000,  # 22 h
    }
    # A late webhook reports an earlier send: the earliest provider time wins, and every
    # interval that starts or ends at sent moves with it.
    _receive(container, ("document_sent", ref, CREATED + H + 1250 * US, {}))
    row = _row(container, ref)
    assert row.state == "completed"
    assert _intervals(row) == {
        "lead_to_sent_ms": 3_600_001,  # 1 h 1.25 ms
        "sent_to_first_view_ms": 5_399_999,  # 1.5 h less 1.25 ms
        "first_view_to_completed_ms": 77_400_000,
        "sent_to_first_reminder_ms": 10_799_999,
        "sent_to_completed_ms": 82_799_999,
    }
    totals = time_to_sign_report(container.databases)["totals"]
    assert totals["lead_to_sent"] == {"count": 1, "p50_seconds": 3600.001, "p90_seconds": 3600.001}
    assert totals["sent_to_completed"]["p50_seconds"] == 82799.999


def test_envelopes_first_seen_in_a_webhook_get_their_lead_or_none(container: Container) -> None:
    lead_id = _lead(container)
    linked = {"inkbridge_lead_id": lead_id}
    sent = CREATED + 3 * H
    _receive(
        container,
        ("document_viewed", "sbx_linked", sent + 10 * MIN, linked),
        ("document_sent", "sbx_linked", sent, linked),
        ("document_sent", "sbx_foreign", sent, {}),
        ("document_completed", "sbx_foreign", sent + H, {}),
    )
    tracked = _row(container, "sbx_linked")
    assert tracked.lead_id == lead_id and tracked.lead_created_at == CREATED
    assert tracked.lead_to_sent_ms == 10_800_000
    assert tracked.sent_to_first_view_ms == 600_000
    foreign = _row(container, "sbx_foreign")
    assert foreign.lead_id is None and foreign.lead_created_at is None
    assert _intervals(foreign) == {
        **dict.fromkeys(INTERVAL_COLUMNS),
        "sent_to_completed_ms": 3_600_000,
    }


def test_a_replay_from_the_event_log_rewrites_the_intervals(container: Container) -> None:
    lead_id = _lead(container)
    metadata = {"inkbridge_lead_id": lead_id}
    _receive(
        container,
        ("document_sent", "sbx_r", CREATED + H, metadata),
        ("document_viewed", "sbx_r", CREATED + 2 * H, metadata),
        ("document_completed", "sbx_r", CREATED + 5 * H, metadata),
    )
    before = _intervals(_row(container, "sbx_r"))
    assert before["sent_to_completed_ms"] == 14_400_000
    with container.databases.home.transaction() as conn:
        conn.execute(
            update(envelopes).values(
                state="sent", milestones={}, sent_at=None, **dict.fromkeys(INTERVAL_COLUMNS)
            )
        )
    assert rebuild_all(container.databases).changed
    assert _intervals(_row(container, "sbx_r")) == before
