"""Touchpoint rows: appended (never updated) for a lead or an anonymous visitor, keeping the
stored attribution journeys they join up to date, and read back as domain touchpoints. Their
URL fields are sealed under the lead's key, or the visitor's while the touch has no lead."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from inkbridge.domain.attribution import Touchpoint
from inkbridge.store import attribution_journeys, sealed_fields
from inkbridge.store.records import columns_of
from inkbridge.store.schema import touchpoints

# The columns a Touchpoint is read from: they carry its field names.
_FIELDS = columns_of(touchpoints, Touchpoint)


def _touch(conn: Connection, row: Any) -> Touchpoint:
    values = dict(row._mapping)
    for name in sealed_fields.URL_FIELDS:
        values[name] = sealed_fields.open_text(conn, f"touchpoints.{name}", values[name])
    return Touchpoint(**values)


def anonymous(conn: Connection, anonymous_id: str) -> list[Touchpoint]:
    """Touches of a visitor not yet known as a lead."""
    rows = conn.execute(
        select(*_FIELDS).where(
            touchpoints.c.anonymous_id == anonymous_id, touchpoints.c.lead_id.is_(None)
        )
    )
    return [_touch(conn, r) for r in rows]


def of_lead(conn: Connection, lead_id: str) -> list[Touchpoint]:
    """A lead's touches, oldest first."""
    rows = conn.execute(
        select(*_FIELDS)
        .where(touchpoints.c.lead_id == lead_id)
        .order_by(touchpoints.c.occurred_at, touchpoints.c.id)
    )
    return [_touch(conn, r) for r in rows]


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
    subject = sealed_fields.lead(lead_id) if lead_id else sealed_fields.visitor(anonymous_id or "")
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
                "referrer": sealed_fields.seal_text(
                    conn, subject, "touchpoints.referrer", t.referrer
                ),
                "landing_page": sealed_fields.seal_text(
                    conn, subject, "touchpoints.landing_page", t.landing_page
                ),
            }
            for t in items
        ],
    )
    attribution_journeys.refresh_leads(conn, owners)
