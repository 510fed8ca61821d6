"""Touchpoint rows: appended (never updated) for a lead or an anonymous visitor, keeping the
stored attribution journeys they join up to date, and read back as domain touchpoints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, select

from inkbridge.domain.attribution import Touchpoint
from inkbridge.store import attribution_journeys
from inkbridge.store.schema import touchpoints


def _touchpoint(row: Any) -> Touchpoint:
    return Touchpoint(
        occurred_at=row.occurred_at,
        utm_source=row.utm_source,
        utm_medium=row.utm_medium,
        utm_campaign=row.utm_campaign,
        utm_term=row.utm_term,
        utm_content=row.utm_content,
        click_ids=dict(row.click_ids or {}),
        referrer=row.referrer,
        landing_page=row.landing_page,
    )


def anonymous(conn: Connection, anonymous_id: str) -> list[Touchpoint]:
    """Touches of a visitor not yet known as a lead."""
    rows = conn.execute(
        select(touchpoints).where(
            touchpoints.c.anonymous_id == anonymous_id, touchpoints.c.lead_id.is_(None)
        )
    )
    return [_touchpoint(r) for r in rows]


def of_lead(conn: Connection, lead_id: str) -> Sequence[Row[Any]]:
    """A lead's touch rows, oldest first."""
    return conn.execute(
        select(touchpoints)
        .where(touchpoints.c.lead_id == lead_id)
        .order_by(touchpoints.c.occurred_at, touchpoints.c.id)
    ).all()


def add(
    conn: Connection,
    region: str,
    lead_id: str | None,
    anonymous_id: str | None,
    items: Sequence[Touchpoint],
) -> None:
    """Append touches of a lead or an anonymous visitor."""
    if not items:
        return
    # The touches can join the stored journeys of this lead's (or this browser's leads')
    # conversions: lock those leads first, refresh their journeys after the insert.
    owners = attribution_journeys.lock_owners(conn, lead_id, anonymous_id)
    conn.execute(
        touchpoints.insert(),
        [
            {
                "region": region,
                "lead_id": lead_id,
                "anonymous_id": anonymous_id,
                "occurred_at": t.occurred_at,
                "utm_source": t.utm_source,
                "utm_medium": t.utm_medium,
                "utm_campaign": t.utm_campaign,
                "utm_term": t.utm_term,
                "utm_content": t.utm_content,
                "click_ids": t.click_ids,
                "referrer": t.referrer,
                "landing_page": t.landing_page,
            }
            for t in items
        ],
    )
    attribution_journeys.refresh_leads(conn, owners)
