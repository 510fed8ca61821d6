"""The console's envelope search: one region's envelopes, newest first, narrowed by provider
envelope id, first-touch campaign or lead, a page at a time (summaries, no timeline)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, select

from inkbridge.store.schema import envelopes


@dataclass(frozen=True)
class EnvelopeCriteria:
    """What to match (every given field must); none: the newest envelopes."""

    provider_envelope_id: str | None = None
    campaign: str | None = None
    lead_ids: tuple[str, ...] | None = None


@dataclass(frozen=True)
class EnvelopeSummary:
    id: str
    region: str
    state: str
    provider: str
    template_key: str | None
    campaign: str | None
    lead_id: str | None
    correlation_id: str
    created_at: datetime
    updated_at: datetime


def matching(conn: Connection, criteria: EnvelopeCriteria, limit: int) -> list[EnvelopeSummary]:
    """Up to ``limit`` matching envelopes, newest first."""
    e = envelopes.c
    conditions: list[ColumnElement[bool]] = []
    if criteria.provider_envelope_id is not None:
        conditions.append(e.provider_envelope_id == criteria.provider_envelope_id)
    if criteria.campaign is not None:
        conditions.append(e.utm_campaign == criteria.campaign)
    if criteria.lead_ids is not None:
        conditions.append(e.lead_id.in_(criteria.lead_ids))
    rows = conn.execute(
        select(
            e.id,
            e.region,
            e.state,
            e.provider,
            e.template_key,
            e.utm_campaign.label("campaign"),
            e.lead_id,
            e.correlation_id,
            e.created_at,
            e.updated_at,
        )
        .where(*conditions)
        .order_by(e.created_at.desc(), e.id.desc())
        .limit(limit)
    )
    return [EnvelopeSummary(**r._mapping) for r in rows]
