"""The generated data set of the report tests, whose every count, drop-off, percentile and
credit is known in advance.

The data set: 200 leads, lead ``i`` created at ``T0 + i hours``, first-touch campaign
``CAMPAIGNS[i % 3]``. What became of each lead is fixed by its index:

    0-39    captured only                 110-129  sent, viewed
    40-59   qualified (qualified_at set)  130-139  sent, viewed, declined
    60-79   envelope created, never sent  140-149  sent, viewed, signed (not completed)
    80-99   sent                          150-199  sent, viewed, signed, completed
    100-109 sent, expired

so the funnel is 200 captured → 160 qualified → 120 sent → 90 viewed → 60 signed → 50 completed,
with 10 declined and 10 expired. Times, per sent envelope of lead ``i``:

    sent        = created + (1 + i % 10) h           (80 ≤ i)
    first view  = sent + (i - 109) min               (110 ≤ i)
    completed   = first view + 2 h · (i - 149)       (150 ≤ i; first signed = completed)
    reminder    = sent + (i - 79) days               (80 ≤ i ≤ 109)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from inkbridge.domain.intervals import interval_columns
from inkbridge.store import attribution_journeys
from inkbridge.store.database import Databases
from inkbridge.store.envelopes import REPORT_MILESTONES
from inkbridge.store.schema import envelopes, leads, touchpoints

T0 = datetime(2026, 3, 1, tzinfo=UTC)
H, MIN, DAY = timedelta(hours=1), timedelta(minutes=1), timedelta(days=1)
CAMPAIGNS = (
    ("spring", "cpc", "google"),
    ("summer", "email", "newsletter"),
    ("autumn", "social", "li"),
)
Rows = dict[str, list[dict[str, Any]]]


def _created(i: int) -> datetime:
    return T0 + i * H


def _touch(region: str, lead: str | None, anon: str, at: datetime, **utm: Any) -> dict[str, Any]:
    return {
        "region": region,
        "lead_id": lead,
        "anonymous_id": anon,
        "occurred_at": at,
        "utm_source": utm.get("source"),
        "utm_medium": utm.get("medium"),
        "utm_campaign": utm.get("campaign"),
        "click_ids": {},
        "referrer": utm.get("referrer"),
    }


def _journey_touches(region: str, i: int, lead: str, anon: str) -> list[dict[str, Any]]:
    """Extra touchpoints of a completed lead (pattern A for even ``i``, B for odd), plus noise
    (medium ``affiliate``) that must never be credited."""
    c = _created(i)
    rows = [
        _touch(region, None, anon, c - 9 * DAY, medium="affiliate"),  # before the frozen first
        _touch(region, lead, anon, c + 60 * DAY, medium="affiliate"),  # after the conversion
        _touch(region, f"lead-{i - 150:03d}", anon, c - DAY, medium="affiliate"),  # not converting
    ]
    if i % 2 == 0:  # A: frozen first, email, organic, display (at creation), referral
        rows += [
            _touch(region, lead, anon, c - 4 * DAY, medium="email", campaign="nurture"),
            _touch(region, None, anon, c - 2 * DAY, medium="organic", source="google"),
            _touch(region, lead, anon, c, medium="display", campaign="retarget"),
            _touch(region, None, anon, c + H, referrer="https://news.example.com/post"),
        ]
    else:  # B: frozen first, then organic two hours after creation (stitched by anonymous id)
        rows.append(_touch(region, None, anon, c + 2 * H, medium="organic", source="bing"))
    return rows


def _envelope(region: str, i: int, lead: str) -> dict[str, Any]:
    c = _created(i)
    campaign, medium, source = CAMPAIGNS[i % 3]
    row: dict[str, Any] = dict.fromkeys(REPORT_MILESTONES)
    template, version = "nda", 3
    if i >= 150 and i % 2:
        template, version = "msa", 1 if i < 175 else 2
    state = "created"
    if i >= 80:
        row["sent_at"], state = c + (1 + i % 10) * H, "sent"
    if 80 <= i < 110:
        row["first_reminder_at"] = row["sent_at"] + (i - 79) * DAY
    if 100 <= i < 110:
        row["expired_at"], state = row["sent_at"] + 31 * DAY, "expired"
    if i >= 110:
        row["first_viewed_at"], state = row["sent_at"] + (i - 109) * MIN, "viewed"
    if 130 <= i < 140:
        row["declined_at"], state = row["first_viewed_at"] + DAY, "declined"
    if 140 <= i < 150:
        row["first_signed_at"], state = row["first_viewed_at"] + H, "partially_signed"
    if i >= 150:
        done = row["first_viewed_at"] + 2 * (i - 149) * H
        row["completed_at"] = row["first_signed_at"] = done
        state = "completed"
    attribution = {"utm_source": source, "utm_medium": medium, "utm_campaign": campaign}
    return {
        **row,
        "id": f"env-{i:03d}",
        "region": region,
        "lead_id": lead,
        "connection": "sandbox",
        "provider": "sandbox",
        "provider_envelope_id": f"p-{i}",
        "template_key": template,
        "template_version": version,
        "correlation_id": f"cor-{i}",
        "state": state,
        "delivery_failed": False,
        "conflicts": [],
        "milestones": {},
        "attribution": attribution,
        "metadata": {},
        "linked": True,
        "needs_reconcile": False,
        "version": 0,
        "created_at": c + 30 * MIN,
        "updated_at": c + 30 * MIN,
        **attribution,
    }


def dataset(region_of: Callable[[int], str]) -> dict[str, Rows]:
    """The rows of the data set, per region."""
    out: dict[str, Rows] = defaultdict(lambda: {"leads": [], "touchpoints": [], "envelopes": []})
    for i in range(200):
        region, lead, anon, c = region_of(i), f"lead-{i:03d}", f"anon-{i}", _created(i)
        campaign, medium, source = CAMPAIGNS[i % 3]
        first = {"source": source, "medium": medium, "campaign": campaign}
        first_touch = _touch(region, lead, anon, c - 8 * DAY, **first)
        rows = out[region]
        rows["leads"].append(
            {
                "id": lead,
                "region": region,
                "email": f"{i}@example.com",
                "anonymous_id": anon,
                "score": 0,
                "qualified_at": c + H if 40 <= i < 60 or i >= 150 else None,
                "first_touch": {
                    "occurred_at": first_touch["occurred_at"].isoformat(),
                    **{f"utm_{k}": v for k, v in first.items()},
                    "utm_term": None,
                    "utm_content": None,
                    "click_ids": {},
                    "referrer": None,
                    "landing_page": "https://example.com/",
                },
                "correlation_id": f"cor-{i}",
                "created_at": c,
            }
        )
        rows["touchpoints"].append(first_touch)
        if i >= 60:
            rows["envelopes"].append(_envelope(region, i, lead))
        if i >= 150:
            rows["touchpoints"] += _journey_touches(region, i, lead, anon)
    return out


def load(databases: Databases, data: dict[str, Rows]) -> None:
    """Insert the rows; envelopes get their time-to-sign columns as the store writes them (their
    lead's creation moment, and the intervals the domain computes from it and the milestones)."""
    for region, rows in data.items():
        created = {lead["id"]: lead["created_at"] for lead in rows["leads"]}
        with_intervals = []
        for envelope in rows["envelopes"]:
            row = {**envelope, "lead_created_at": created.get(envelope["lead_id"])}
            with_intervals.append({**row, **interval_columns(row)})
        with databases[region].transaction() as conn:
            conn.execute(leads.insert(), rows["leads"])
            conn.execute(touchpoints.insert(), rows["touchpoints"])
            conn.execute(envelopes.insert(), with_intervals)
            # Rows loaded directly: fill the stored journeys as the backfill does.
            attribution_journeys.rebuild(conn)
