"""Finding envelopes for the console: by inkbridge id, provider envelope id, first-touch
campaign or a signer's email (through each region's blind index, ``store.leads``), across every
region, newest first, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inkbridge.services.envelopes import locate_envelope
from inkbridge.store import leads
from inkbridge.store.database import Databases
from inkbridge.store.envelope_search import EnvelopeCriteria, EnvelopeSummary, matching

PAGE_SIZE = 25
MAX_PAGE = 200  # paging deeper than this is what the API and reports are for


@dataclass(frozen=True)
class EnvelopeQuery:
    """One search: at most one of the criteria is usually given; ``page`` counts from 1."""

    envelope_id: str | None = None
    provider_envelope_id: str | None = None
    campaign: str | None = None
    email: str | None = None
    page: int = 1


@dataclass(frozen=True)
class EnvelopePage:
    envelopes: list[EnvelopeSummary]
    page: int
    has_next: bool


def _lead_ids_by_email(databases: Databases, email: str) -> tuple[str, ...]:
    """The newest lead of this email in each region (the blind index finds it; the email itself
    is never compared in the clear)."""
    found: list[str] = []
    for db in databases:
        with db.reader() as conn:
            lead = leads.latest_by_email(conn, email.strip().lower())
        if lead is not None:
            found.append(str(lead["id"]))
    return tuple(found)


def _summary(row: Any) -> EnvelopeSummary:
    return EnvelopeSummary(
        id=row.id,
        region=row.region,
        state=row.state,
        provider=row.provider,
        template_key=row.template_key,
        campaign=row.utm_campaign,
        lead_id=row.lead_id,
        correlation_id=row.correlation_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def search_envelopes(databases: Databases, query: EnvelopeQuery) -> EnvelopePage:
    page = min(max(query.page, 1), MAX_PAGE)
    if query.envelope_id:
        located = locate_envelope(databases, query.envelope_id.strip())
        return EnvelopePage([_summary(located[1])] if located else [], 1, False)
    lead_ids = _lead_ids_by_email(databases, query.email) if query.email else None
    if lead_ids == ():
        return EnvelopePage([], 1, False)
    criteria = EnvelopeCriteria(
        provider_envelope_id=query.provider_envelope_id or None,
        campaign=query.campaign or None,
        lead_ids=lead_ids,
    )
    # Each region's newest (page x size + 1) rows hold the merged page and tell if one follows.
    wanted = page * PAGE_SIZE + 1
    found: list[EnvelopeSummary] = []
    for db in databases:
        with db.reader() as conn:
            found.extend(matching(conn, criteria, wanted))
    found.sort(key=lambda e: (e.created_at, e.id), reverse=True)
    start = (page - 1) * PAGE_SIZE
    return EnvelopePage(found[start : start + PAGE_SIZE], page, len(found) > start + PAGE_SIZE)
