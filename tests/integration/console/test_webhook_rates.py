"""Webhooks per minute by connection and outcome, counted from the stored receipts on SQLite
and PostgreSQL: each receipt in the minute it was received, nothing from outside the window;
and the console's overview shows them with a sparkline per connection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from inkbridge.services.webhook_rates import WINDOW_MINUTES, webhook_rates
from inkbridge.store.database import Databases
from inkbridge.store.schema import webhook_receipts
from tests.integration.console.conftest import World, sign_in
from tests.support.builders import store_delivery

NOW = datetime(2026, 5, 4, 10, 30, 42, tzinfo=UTC)
CURRENT = NOW.replace(second=0)  # the window's last minute, under way
FIRST = CURRENT - timedelta(minutes=WINDOW_MINUTES - 1)


def _store(databases: Databases, connection: str, status: str, received_at: datetime) -> None:
    db = databases.home
    receipt_id = store_delivery(db, b"{}", connection, received_at)
    with db.transaction() as conn:
        conn.execute(
            update(webhook_receipts)
            .where(webhook_receipts.c.id == receipt_id)
            .values(status=status)
        )


def test_receipts_are_counted_in_the_minute_they_were_received(databases: Databases) -> None:
    second = timedelta(seconds=1)
    stored = [
        ("docusign", "done", FIRST),  # the window's very first instant
        ("docusign", "done", FIRST + 59 * second),
        ("docusign", "done", FIRST + 60 * second),  # the next minute's first instant
        ("docusign", "ignored", FIRST + timedelta(minutes=7, seconds=30)),
        ("docusign", "failed", CURRENT + 40 * second),
        ("sandbox", "refused_residency", CURRENT - second),
        ("sandbox", "pending", CURRENT),
        ("sandbox", "pending", CURRENT + 41 * second),
        # Outside the window: just before it, and after its end.
        ("docusign", "done", FIRST - timedelta(microseconds=1)),
        ("sandbox", "pending", CURRENT + timedelta(minutes=1)),
    ]
    for connection, status, received_at in stored:
        _store(databases, connection, status, received_at)

    found = webhook_rates(databases, NOW)

    assert found.minutes[0] == FIRST and found.minutes[-1] == CURRENT
    assert len(found.minutes) == WINDOW_MINUTES
    last = WINDOW_MINUTES - 1
    nonzero = {
        (r.connection, r.outcome): {i: n for i, n in enumerate(r.per_minute) if n}
        for r in found.rates
    }
    assert nonzero == {
        ("docusign", "done"): {0: 2, 1: 1},
        ("docusign", "ignored"): {7: 1},
        ("docusign", "failed"): {last: 1},
        ("sandbox", "refused_residency"): {last - 1: 1},
        ("sandbox", "pending"): {last: 2},
    }
    per_connection = found.by_connection()
    assert sum(per_connection["docusign"]) == 5
    assert per_connection["sandbox"][last - 1 :] == (1, 2)


def test_no_receipt_in_the_window_means_no_rates(databases: Databases) -> None:
    _store(databases, "sandbox", "done", FIRST - timedelta(hours=2))
    found = webhook_rates(databases, NOW)
    assert found.rates == ()
    assert found.by_connection() == {}


async def test_the_overview_shows_webhooks_per_minute_with_a_sparkline(world: World) -> None:
    await sign_in(world.client, world.tokens["read"])
    page = await world.client.get("/console")
    assert page.status_code == 200
    assert "Webhooks per minute by connection" in page.text
    assert '<svg class="spark" role="img"' in page.text
    assert "sandbox, receipts per minute:" in page.text
    assert "only the metrics count them" in page.text
