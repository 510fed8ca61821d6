"""The deterministic data set of the reports benchmark (bench/reports.py): leads created over a
year, their envelopes with realistic milestone rates and delays, and their touchpoints across
campaigns, organic, referral and direct traffic, generated chunk by chunk as table rows."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from inkbridge.domain.intervals import INTERVAL_COLUMNS, interval_columns_us

START = int(datetime(2025, 12, 1, tzinfo=UTC).timestamp())
YEAR, DAY, HOUR = 365 * 86400, 86400, 3600
CHUNK_LEADS = 25_000

MEDIA = (("cpc", "google"), ("email", "newsletter"), ("social", "linkedin"), ("display", "dv360"))
CAMPAIGNS = [(src, med, f"{med}-{k:02d}", None) for k in range(40) for med, src in [MEDIA[k % 4]]]
ORGANIC = ("google", "organic", None, None)
REFERRAL = (None, None, None, "https://news.example.com/article")
DIRECT = (None, None, None, None)
TEMPLATES = ("nda", "msa", "order_form", "dpa", "sow")

LEAD_COLUMNS = [
    *("id", "region", "email", "anonymous_id", "score", "qualified_at", "first_touch"),
    *("correlation_id", "created_at"),
]
TOUCH_COLUMNS = [
    *("region", "lead_id", "anonymous_id", "occurred_at", "utm_source", "utm_medium"),
    *("utm_campaign", "click_ids", "referrer", "landing_page"),
]
ENVELOPE_COLUMNS = [
    *("id", "region", "lead_id", "connection", "provider", "provider_envelope_id"),
    *("template_key", "template_version", "correlation_id", "state", "delivery_failed"),
    *("conflicts", "milestones", "attribution", "metadata", "linked", "needs_reconcile"),
    *("sent_at", "first_viewed_at", "first_signed_at", "completed_at", "declined_at"),
    *("voided_at", "expired_at", "first_reminder_at", "utm_source", "utm_medium"),
    *("utm_campaign", "version", "created_at", "updated_at", "lead_created_at"),
    *INTERVAL_COLUMNS,
]
MILESTONES = ENVELOPE_COLUMNS[17:25]

_days: dict[int, str] = {}


def stamp(ts: int | None) -> str | None:
    """Epoch seconds as the text SQLAlchemy stores in SQLite (PostgreSQL parses it in UTC)."""
    if ts is None:
        return None
    day, rest = divmod(ts, DAY)
    text = _days.get(day)
    if text is None:
        text = _days[day] = datetime.fromtimestamp(day * DAY, UTC).strftime("%Y-%m-%d")
    hours, rest = divmod(rest, HOUR)
    return f"{text} {hours:02d}:{rest // 60:02d}:{rest % 60:02d}.000000"


def iso(ts: int) -> str:
    text = stamp(ts)
    assert text is not None
    return text[:10] + "T" + text[11:19] + "+00:00"


def pick_channel(rng: random.Random) -> tuple[str | None, str | None, str | None, str | None]:
    draw = rng.random()
    if draw < 0.60:
        return CAMPAIGNS[int(rng.random() * len(CAMPAIGNS))]
    if draw < 0.75:
        return ORGANIC
    return REFERRAL if draw < 0.85 else DIRECT


def utm_json(channel: tuple[str | None, ...]) -> str:
    source, medium, campaign, _ = channel
    return json.dumps({"utm_source": source, "utm_medium": medium, "utm_campaign": campaign})


class Generator:
    """Yields chunks of (leads, touchpoints, envelopes) rows until ``envelopes`` exist."""

    def __init__(self, envelopes: int, seed: int) -> None:
        self.target = envelopes
        self.rng = random.Random(seed)
        self.expected_leads = int(envelopes * 1.3)
        self.leads = self.touchpoints = self.envelopes = 0

    def chunks(self) -> Iterator[tuple[list[tuple[Any, ...]], ...]]:
        while self.envelopes < self.target:
            out: tuple[list[tuple[Any, ...]], ...] = ([], [], [])
            for _ in range(CHUNK_LEADS):
                if self.envelopes >= self.target:
                    break
                self._lead(*out)
            yield out

    def _lead(self, leads: list[Any], touches: list[Any], envelopes: list[Any]) -> None:
        rng, i = self.rng, self.leads
        self.leads += 1
        lead_id, correlation = f"lead_{i:09d}", f"cor_{i:09d}"
        created = START + int(i * YEAR / self.expected_leads) + int(rng.random() * 600)
        anon = f"anon_{i:09d}" if rng.random() < 0.85 else None
        first_at = created - int(rng.random() * 30 * DAY)
        first = pick_channel(rng)
        touches.append(("default", lead_id, anon, stamp(first_at), *first[:3], "{}", first[3], "/"))
        extras = 0
        while extras < 8 and rng.random() < 0.55:
            extras += 1
        for _ in range(extras):
            at = first_at + int(rng.random() * (created + 20 * DAY - first_at))
            linked = anon is None or (at <= created and rng.random() < 0.75)
            channel = pick_channel(rng)
            owner = lead_id if linked else None
            touches.append(("default", owner, anon, stamp(at), *channel[:3], "{}", channel[3], "/"))
        self.touchpoints += 1 + extras
        count = 0
        if rng.random() < 0.71:
            count = 2 if rng.random() < 0.09 else 1
        qualified = None
        if count or rng.random() < 0.1:
            qualified = stamp(created + int(rng.expovariate(1 / (6 * HOUR))))
        first_touch: dict[str, Any] = {
            "occurred_at": iso(first_at),
            "utm_source": first[0],
            "utm_medium": first[1],
            "utm_campaign": first[2],
            "utm_term": None,
            "utm_content": None,
            "click_ids": {},
            "referrer": first[3],
            "landing_page": "/",
        }
        email, score, frozen = f"u{i}@example.com", int(rng.random() * 100), json.dumps(first_touch)
        leads.append(
            (lead_id, "default", email, anon, score, qualified, frozen, correlation, stamp(created))
        )
        attribution = utm_json(first)
        for _ in range(min(count, self.target - self.envelopes)):
            envelopes.append(self._envelope(lead_id, correlation, created, first, attribution))

    def _envelope(
        self, lead_id: str, correlation: str, created: int, first: tuple[Any, ...], attribution: str
    ) -> tuple[Any, ...]:
        rng, j = self.rng, self.envelopes
        self.envelopes += 1
        made = created + int(rng.expovariate(1 / (2 * DAY)))
        at: dict[str, int | None] = dict.fromkeys(MILESTONES)
        state = "created"
        if rng.random() < 0.95:
            sent = at["sent_at"] = made + int(rng.expovariate(1 / 600))
            state = "sent"
            end = None
            if rng.random() < 0.85:
                view = at["first_viewed_at"] = sent + int(rng.expovariate(1 / (6 * HOUR)))
                state, draw = "viewed", rng.random()
                if draw < 0.65:
                    done = at["completed_at"] = view + int(rng.expovariate(1 / (1.5 * DAY)))
                    at["first_signed_at"] = max(view, done - int(rng.expovariate(1 / HOUR)))
                    state, end = "completed", done
                elif draw < 0.72:
                    end = at["declined_at"] = view + int(rng.expovariate(1 / (2 * DAY)))
                    state = "declined"
                elif draw < 0.77:
                    at["first_signed_at"] = view + int(rng.expovariate(1 / (3 * HOUR)))
                    state = "partially_signed"
                elif draw < 0.82:
                    end = at["expired_at"] = sent + 30 * DAY
                    state = "expired"
            elif rng.random() < 0.10:
                end = at["expired_at"] = sent + 30 * DAY
                state = "expired"
            reminder = sent + (1 + int(rng.random() * 7)) * DAY
            if rng.random() < 0.4 and (end is None or reminder < end):
                at["first_reminder_at"] = reminder
        elif rng.random() < 0.5:
            at["voided_at"], state = made + DAY, "voided"
        stamps = {k: stamp(v) for k, v in at.items()}
        milestones = json.dumps({k: iso(v) for k, v in at.items() if v is not None})
        env_id = f"env_{j:09d}"
        metadata = json.dumps(
            {"inkbridge_envelope_id": env_id, "inkbridge_lead_id": lead_id, "campaign": first[2]}
        )
        template = TEMPLATES[int(rng.random() * len(TEMPLATES))]
        updated = max((v for v in at.values() if v is not None), default=made)
        version = 1 + int(rng.random() * 3)
        # The time-to-sign columns, as the store writes them (moments in epoch microseconds).
        moments = {k: v * 1_000_000 for k, v in at.items() if v is not None}
        intervals = interval_columns_us({**moments, "lead_created_at": created * 1_000_000})
        return (
            *(env_id, "default", lead_id, "sandbox", "sandbox", f"pe_{j:09d}", template),
            *(version, correlation, state, False, "[]", milestones, attribution, metadata),
            *(True, False, *stamps.values(), *first[:3], 1, stamp(made), stamp(updated)),
            *(stamp(created), *intervals.values()),
        )
