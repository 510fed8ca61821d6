"""The reports on real databases (SQLite file and PostgreSQL), over a generated data set whose
every count, drop-off, percentile and credit is known in advance, then over HTTP.

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

import asyncio
import json
import random
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from inkbridge.api.app import create_app
from inkbridge.bootstrap import Container, bootstrap
from inkbridge.cli import main as cli
from inkbridge.domain.attribution_models import (
    DEFAULT_HALF_LIFE_DAYS,
    DEFAULT_STITCH_WINDOW,
    Conversion,
    Model,
    ObservedTouch,
    Touch,
    channel_of,
    credit,
    journey,
    stitch,
)
from inkbridge.domain.intervals import interval_columns
from inkbridge.services.report_format import duration_text
from inkbridge.services.reports import (
    CreditBy,
    GroupBy,
    ReportFilter,
    attribution_report,
    funnel_report,
    percentile,
    time_to_sign_report,
)
from inkbridge.services.tokens import create_token
from inkbridge.store import attribution_journeys, migrate
from inkbridge.store.attribution_query import attribution_credits
from inkbridge.store.database import Databases
from inkbridge.store.envelopes import REPORT_MILESTONES
from inkbridge.store.schema import envelopes, leads, touchpoints
from tests.conftest import PG_AVAILABLE, drop_pg_schema, new_pg_schema
from tests.support.builders import make_settings

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


@pytest.fixture
def loaded(databases: Databases) -> Databases:
    load(databases, dataset(lambda _i: "default"))
    return databases


# --- funnel ---------------------------------------------------------------------------------


def _funnel_counts(report: dict[str, Any]) -> dict[str, int]:
    return {row["stage"]: row["count"] for row in report["rows"]}


def test_the_funnel_counts_leads_at_each_stage_with_drop_off(loaded: Databases) -> None:
    report = funnel_report(loaded)
    assert _funnel_counts(report) == {
        "captured": 200,
        "qualified": 160,
        "sent": 120,
        "viewed": 90,
        "signed": 60,
        "completed": 50,
        "declined": 10,
        "expired": 10,
    }
    drop = {row["stage"]: row["drop_off_pct"] for row in report["rows"]}
    # 40/200, 40/160, 30/120, 30/90, 10/60
    assert drop == {
        "captured": None,
        "qualified": 20.0,
        "sent": 25.0,
        "viewed": 25.0,
        "signed": 33.33,
        "completed": 16.67,
        "declined": None,
        "expired": None,
    }
    assert report["totals"]["overall_conversion_pct"] == 25.0  # 50 / 200


def test_the_funnel_filters_by_campaign_template_and_cohort_dates(loaded: Databases) -> None:
    # spring is i % 3 == 0: 67 leads, 14 of them in 0-39; sent are 81..198 step 3 (40), viewed
    # from 111 (30), signed from 141 (20), completed from 150 (17), 3 declined, 3 expired.
    spring = funnel_report(loaded, ReportFilter(campaign="spring"))
    assert _funnel_counts(spring) == {
        "captured": 67,
        "qualified": 53,
        "sent": 40,
        "viewed": 30,
        "signed": 20,
        "completed": 17,
        "declined": 3,
        "expired": 3,
    }
    # msa: the odd completed leads; lead-level stages are not narrowed by a template.
    msa = _funnel_counts(funnel_report(loaded, ReportFilter(template="msa")))
    assert msa == {
        "captured": 200,
        "qualified": 160,
        "sent": 25,
        "viewed": 25,
        "signed": 25,
        "completed": 25,
        "declined": 0,
        "expired": 0,
    }
    # Leads 100-149: 10 expired, 20 viewed, 10 declined, 10 signed.
    cohort = ReportFilter(since=_created(100), until=_created(150))
    assert _funnel_counts(funnel_report(loaded, cohort)) == {
        "captured": 50,
        "qualified": 50,
        "sent": 50,
        "viewed": 40,
        "signed": 10,
        "completed": 0,
        "declined": 10,
        "expired": 10,
    }


# --- time to sign ---------------------------------------------------------------------------

HOUR, MINUTE, DAYS = 3600.0, 60.0, 86400.0
# Overall, by linear interpolation at rank h = (n - 1)·p:
EXPECTED_TOTALS = {
    # 120 values, 1..10 h twelve times each: h = 59.5 → 5.5 h; h = 107.1 → 9 + 0.1 = 9.1 h
    "lead_to_sent": (120, 5.5 * HOUR, 9.1 * HOUR),
    # 90 values 1..90 min: h = 44.5 → 45.5 min; h = 80.1 → 81.1 min
    "sent_to_first_view": (90, 45.5 * MINUTE, 81.1 * MINUTE),
    # 50 values 2, 4 … 100 h: h = 24.5 → 51 h; h = 44.1 → 90.2 h
    "first_view_to_completed": (50, 51 * HOUR, 90.2 * HOUR),
    # 30 values 1..30 days: h = 14.5 → 15.5 d; h = 26.1 → 27.1 d
    "sent_to_first_reminder": (30, 15.5 * DAYS, 27.1 * DAYS),
    # k = i - 150: (k + 41) min + 2(k + 1) h = 121k + 161 min, linear in k:
    # h = 24.5 → 121·24.5 + 161 = 3125.5 min; h = 44.1 → 121·44.1 + 161 = 5497.1 min
    "sent_to_completed": (50, 3125.5 * MINUTE, 5497.1 * MINUTE),
}


def _assert_totals(report: dict[str, Any]) -> None:
    for name, (count, p50, p90) in EXPECTED_TOTALS.items():
        got = report["totals"][name]
        assert got["count"] == count, name
        assert got["p50_seconds"] == pytest.approx(p50, abs=0.01), name
        assert got["p90_seconds"] == pytest.approx(p90, abs=0.01), name


def test_time_to_sign_percentiles_are_exact(loaded: Databases) -> None:
    report = time_to_sign_report(loaded)
    _assert_totals(report)
    assert {row["interval"] for row in report["rows"]} == set(EXPECTED_TOTALS)


def test_time_to_sign_by_campaign_and_template_version(loaded: Databases) -> None:
    by_campaign = time_to_sign_report(loaded, group_by=GroupBy.CAMPAIGN)
    _assert_totals(by_campaign)
    spring = next(
        r
        for r in by_campaign["rows"]
        if r["campaign"] == "spring" and r["interval"] == "sent_to_completed"
    )
    # spring completions: k = 0, 3 … 48 (17 values, k = 3j): h = 8 → k = 24 → 3065 min;
    # h = 14.4 → k = 43.2 → 121·43.2 + 161 = 5388.2 min
    assert spring["count"] == 17
    assert spring["p50_seconds"] == pytest.approx(3065 * MINUTE, abs=0.01)
    assert spring["p90_seconds"] == pytest.approx(5388.2 * MINUTE, abs=0.01)
    by_version = time_to_sign_report(loaded, group_by=GroupBy.TEMPLATE_VERSION)
    completed = {
        (r["template"], r["template_version"]): r["count"]
        for r in by_version["rows"]
        if r["interval"] == "sent_to_completed"
    }
    # nda v3: even 150..198; msa v1: odd 151..173; msa v2: odd 175..199
    assert completed == {("msa", 1): 12, ("msa", 2): 13, ("nda", 3): 25}


# --- attribution ----------------------------------------------------------------------------

# Hand-computed credit per touch, per journey pattern (see _journey_touches); time decay with
# the default half-life of 7 days, Δ measured back from the latest touch (same shares as from
# the conversion): A at -8d, -4d, -2d, 0, +1h; B at -8d, +2h.
_A_DECAY = [2 ** (-(d + 1 / 24) / 7) for d in (8, 4, 2, 0)] + [1.0]
_B_DECAY = [2 ** (-(8 + 1 / 12) / 7), 1.0]
VECTORS = {
    Model.FIRST_TOUCH: ([1, 0, 0, 0, 0], [1, 0]),
    Model.LAST_TOUCH: ([0, 0, 0, 0, 1], [0, 1]),
    Model.LINEAR: ([0.2] * 5, [0.5, 0.5]),
    Model.TIME_DECAY: (
        [w / sum(_A_DECAY) for w in _A_DECAY],
        [w / sum(_B_DECAY) for w in _B_DECAY],
    ),
    Model.POSITION_BASED: ([0.4, 0.2 / 3, 0.2 / 3, 0.2 / 3, 0.4], [0.5, 0.5]),
    # A: anchors first, display (last at or before creation), referral (last before sent, which
    # is ≥ 1 h after creation); email and organic share 10 %. B: first = lead-created anchor
    # (60 %), organic = sent anchor (30 %); no middle, so 60:30 becomes 2/3 : 1/3.
    Model.W_SHAPED: ([0.3, 0.05, 0.05, 0.3, 0.3], [2 / 3, 1 / 3]),
}
# Conversions per first-touch medium: A (even i in 150..199) cpc 9, email 8, social 8;
# B (odd) cpc 8, email 9, social 8.
A_FIRST = {"cpc": 9, "email": 8, "social": 8}
B_FIRST = {"cpc": 8, "email": 9, "social": 8}


def _expected_by_channel(model: Model) -> dict[str, float]:
    a_vector, b_vector = VECTORS[model]
    out: dict[str, float] = defaultdict(float)
    for medium, count in A_FIRST.items():
        for channel, share in zip(
            [medium, "email", "organic", "display", "referral"], a_vector, strict=True
        ):
            out[channel] += count * share
    for medium, count in B_FIRST.items():
        for channel, share in zip([medium, "organic"], b_vector, strict=True):
            out[channel] += count * share
    return dict(out)


def _credits(report: dict[str, Any], key: str, model: Model) -> dict[str, float]:
    return {row[key]: row[model.value] for row in report["rows"] if row[model.value]}


@pytest.mark.parametrize("model", list(Model))
def test_attribution_credits_channels_under_each_model(loaded: Databases, model: Model) -> None:
    report = attribution_report(loaded, models=[model])
    expected = {k: v for k, v in _expected_by_channel(model).items() if v}
    assert _credits(report, "channel", model) == pytest.approx(expected, abs=1e-6)
    assert report["totals"]["conversions"] == 50
    assert report["totals"][model.value] == pytest.approx(50.0, abs=1e-6)


def test_linear_attribution_by_channel_and_campaign_by_hand(loaded: Databases) -> None:
    report = attribution_report(loaded, models=[Model.LINEAR])
    # cpc 9·.2 + 8·.5; email 8·.2 + 25·.2 + 9·.5; social 8·.2 + 8·.5; organic 25·.2 + 25·.5
    assert _credits(report, "channel", Model.LINEAR) == pytest.approx(
        {"cpc": 5.8, "email": 11.1, "social": 5.6, "organic": 17.5, "display": 5, "referral": 5}
    )
    by_campaign = attribution_report(loaded, models=[Model.LINEAR], credit_by=CreditBy.CAMPAIGN)
    # (none) = organic and referral touches: 25·.2 + 25·.2 + 25·.5
    assert _credits(by_campaign, "campaign", Model.LINEAR) == pytest.approx(
        {
            "spring": 5.8,
            "summer": 1.6 + 4.5,
            "autumn": 5.6,
            "nurture": 5,
            "retarget": 5,
            "(none)": 22.5,
        }
    )


def test_a_short_stitching_window_drops_late_anonymous_touches(loaded: Databases) -> None:
    # Window 1 h: B's organic touch (+2 h) is out, A's referral touch (+1 h, at the edge) stays.
    report = attribution_report(loaded, models=[Model.LINEAR], stitch_window=timedelta(hours=1))
    assert _credits(report, "channel", Model.LINEAR) == pytest.approx(
        {"cpc": 9.8, "email": 15.6, "social": 9.6, "organic": 5, "display": 5, "referral": 5}
    )


def test_filters_narrow_the_conversions(loaded: Databases) -> None:
    report = attribution_report(loaded, ReportFilter(template="msa"), models=[Model.FIRST_TOUCH])
    assert _credits(report, "channel", Model.FIRST_TOUCH) == pytest.approx(B_FIRST)


# --- SQL against the domain, journey by journey ---------------------------------------------


def test_sql_attribution_matches_the_domain_on_random_journeys(databases: Databases) -> None:
    """150 random leads (0-6 touches, linked or anonymous, some browsers shared by two leads,
    some leads without a frozen first touch or a sent moment): the SQL sums equal the domain
    functions applied journey by journey."""
    rng = random.Random(7)
    rows: Rows = {"leads": [], "touchpoints": [], "envelopes": []}
    observed: list[ObservedTouch] = []
    conversions: list[tuple[str, str, Touch | None, datetime, datetime, datetime | None]] = []
    for i in range(150):
        lead, anon = f"lead-{i:03d}", f"anon-{i % 140}"
        created = T0 + timedelta(seconds=rng.randrange(0, 90 * 86400))
        first, first_json = None, {}
        for _ in range(rng.randrange(0, 7)):
            at = created + timedelta(seconds=rng.randrange(-40 * 86400, 40 * 86400))
            medium = rng.choice([None, "cpc", "email", "social"])
            referrer = rng.choice([None, "https://r.example/"])
            linked = lead if rng.random() < 0.5 else None
            rows["touchpoints"].append(
                _touch("default", linked, anon, at, medium=medium, referrer=referrer)
            )
            touch = Touch(at, channel_of(medium, referrer))
            observed.append(ObservedTouch(touch, anonymous_id=anon, lead_id=linked))
            # Capture freezes the earliest touch it was given (linked, before creation).
            if linked and at <= created and (first is None or at < first.occurred_at):
                first = touch
                first_json = {"occurred_at": at.isoformat(), "utm_medium": medium}
                first_json["referrer"] = referrer
        rows["leads"].append(
            {
                "id": lead,
                "region": "default",
                "anonymous_id": anon,
                "score": 0,
                "first_touch": first_json if rng.random() < 0.9 else {},
                "correlation_id": lead,
                "created_at": created,
            }
        )
        if not rows["leads"][-1]["first_touch"]:
            first = None
        sent = created + timedelta(seconds=rng.randrange(0, 5 * 86400)) if i % 4 else None
        converted = created + timedelta(seconds=rng.randrange(0, 20 * 86400))
        envelope = _envelope("default", 150, lead)
        envelope.update(id=f"e-{i}", provider_envelope_id=f"p-{i}")
        envelope.update(sent_at=sent, completed_at=converted)
        # The envelope's report columns are copied from the frozen first touch.
        frozen = rows["leads"][-1]["first_touch"]
        envelope.update(utm_source=None, utm_campaign=None, utm_medium=frozen.get("utm_medium"))
        rows["envelopes"].append(envelope)
        conversions.append((lead, anon, first, created, converted, sent))
    expected: dict[Model, dict[str, float]] = {m: defaultdict(float) for m in Model}
    for lead, anon, first, created, converted, sent in conversions:
        stitched = stitch(observed, anon, created, lead_id=lead)
        touches = journey(first, stitched, created, converted)
        for model in Model:
            shares = credit(model, Conversion(touches, converted, created, sent))
            for touch, share in zip(touches, shares, strict=True):
                expected[model][touch.channel] += share
    load(databases, {"default": rows})
    report = attribution_report(databases)
    for model in Model:
        got = _credits(report, "channel", model)
        want = {k: v for k, v in expected[model].items() if v > 1e-12}
        assert got == pytest.approx(want, abs=1e-5), model
    # The stored journeys give what assembling them at query time (the reference) gives.
    for credit_by in CreditBy:
        stored = _sql_credits(databases, credit_by, assemble=False)
        assert stored == pytest.approx(_sql_credits(databases, credit_by, assemble=True), abs=1e-9)


def _sql_credits(
    databases: Databases, credit_by: CreditBy, *, assemble: bool
) -> dict[tuple[str, str], float]:
    """Every model's credit per key, from the stored or the assembled journeys."""
    db = databases.home
    statement = attribution_credits(
        ReportFilter(),
        models=list(Model),
        credit_by=credit_by,
        half_life_days=DEFAULT_HALF_LIFE_DAYS,
        window=DEFAULT_STITCH_WINDOW,
        dialect=db.engine.dialect.name,
        assemble=assemble,
    )
    with db.reader() as conn:
        return {
            (key, model.value): float(value)
            for key, *values in conn.execute(statement)
            for model, value in zip(Model, values, strict=True)
        }


def test_time_decay_stays_exact_long_after_the_journey(databases: Databases) -> None:
    """Half-life 0.01 days and a signature 30 days after the last touch: 3,000 half-lives, far
    past what 2^-x relative to the conversion can represent. The shares still match."""
    created = T0 + 3 * H
    lead = dataset(lambda _i: "default")["default"]["leads"][150]
    lead.update(id="lead-x", anonymous_id=None, created_at=created)
    lead["first_touch"] = {"occurred_at": T0.isoformat(), "utm_medium": "cpc"}
    touches = [
        _touch("default", "lead-x", "", T0, medium="cpc"),
        _touch("default", "lead-x", "", T0 + H, medium="email"),
        _touch("default", "lead-x", "", T0 + 2 * H, medium="social"),
    ]
    envelope = _envelope("default", 150, "lead-x")
    envelope.update(utm_medium="cpc", sent_at=created + H, completed_at=created + 30 * DAY)
    load(databases, {"default": {"leads": [lead], "touchpoints": touches, "envelopes": [envelope]}})
    journey_touches = (Touch(T0, "cpc"), Touch(T0 + H, "email"), Touch(T0 + 2 * H, "social"))
    conversion = Conversion(journey_touches, created + 30 * DAY, created, created + H)
    expected = credit(Model.TIME_DECAY, conversion, half_life_days=0.01)
    report = attribution_report(databases, models=[Model.TIME_DECAY], half_life_days=0.01)
    got = _credits(report, "channel", Model.TIME_DECAY)
    assert [got["cpc"], got["email"], got["social"]] == pytest.approx(expected, abs=1e-6)
    assert got["email"] > 0.05  # one hour is 4.2 half-lives: 2^-4.17 of the latest touch


# --- several regions ------------------------------------------------------------------------


@pytest.fixture
def two_regions(tmp_path: Path) -> Iterator[Databases]:
    """Even leads in one region, odd in the other: SQLite + PostgreSQL when it is there."""
    schema = None
    urls = {"us": f"sqlite:///{tmp_path}/us.db", "eu": f"sqlite:///{tmp_path}/eu.db"}
    if PG_AVAILABLE:
        schema, urls["eu"] = new_pg_schema()
    databases = Databases(urls, home_region="us")
    migrate.upgrade_all(databases)
    load(databases, dataset(lambda i: "us" if i % 2 == 0 else "eu"))
    yield databases
    databases.dispose()
    if schema:
        drop_pg_schema(schema)


def test_reports_add_up_across_regions_and_merge_percentiles(two_regions: Databases) -> None:
    assert funnel_report(two_regions)["totals"]["completed"] == 50
    assert _funnel_counts(funnel_report(two_regions))["qualified"] == 160
    _assert_totals(time_to_sign_report(two_regions, group_by=GroupBy.CHANNEL))
    report = attribution_report(two_regions, models=[Model.W_SHAPED])
    expected = _expected_by_channel(Model.W_SHAPED)
    assert _credits(report, "channel", Model.W_SHAPED) == pytest.approx(expected, abs=1e-6)


# --- HTTP -----------------------------------------------------------------------------------


@pytest.fixture
def api(tmp_path: Path, db_url: str) -> Iterator[tuple[Container, dict[str, str]]]:
    container = bootstrap(make_settings(tmp_path, db_url), auto_migrate=True)
    load(container.databases, dataset(lambda _i: "default"))
    _, token = create_token(container.databases, "reports", ["read"])
    yield container, {"Authorization": f"Bearer {token}"}
    container.databases.dispose()


def _get(container: Container, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(container))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get(path, **kwargs)

    return asyncio.run(go())


def test_the_funnel_over_http_as_json_and_csv(api: tuple[Container, dict[str, str]]) -> None:
    container, auth = api
    body = _get(container, "/v1/reports/funnel", headers=auth, params={"campaign": "spring"})
    assert body.status_code == 200
    assert body.json()["rows"][0] == {
        "step": 1,
        "stage": "captured",
        "count": 67,
        "drop_off_pct": None,
        "conversion_pct": 100.0,
    }
    as_csv = _get(container, "/v1/reports/funnel", headers={**auth, "Accept": "text/csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    lines = as_csv.text.splitlines()
    assert lines[0] == "step,stage,count,drop_off_pct,conversion_pct"
    assert lines[1:3] == ["1,captured,200,,100.0", "2,qualified,160,20.0,80.0"]


def test_time_to_sign_and_attribution_over_http(api: tuple[Container, dict[str, str]]) -> None:
    container, auth = api
    answer = _get(
        container,
        "/v1/reports/time-to-sign",
        headers=auth,
        params={"group_by": "template", "format": "csv"},
    )
    assert answer.status_code == 200
    header, *rows = answer.text.splitlines()
    assert header == "template,interval,count,p50_seconds,p90_seconds"
    assert "msa,sent_to_completed,25," in "\n".join(rows)
    linear = _get(
        container,
        "/v1/reports/attribution",
        headers=auth,
        params={"model": "linear", "group_by": "channel"},
    ).json()
    assert linear["columns"] == ["channel", "linear"]
    assert {r["channel"]: r["linear"] for r in linear["rows"]}["organic"] == 17.5
    every = _get(container, "/v1/reports/attribution", headers=auth).json()
    assert every["columns"] == ["channel", *(m.value for m in Model)]
    assert every["totals"]["conversions"] == 50


def test_reports_need_the_read_scope_and_valid_parameters(
    api: tuple[Container, dict[str, str]],
) -> None:
    container, auth = api
    assert _get(container, "/v1/reports/funnel").status_code == 401
    _, writer = create_token(container.databases, "writer", ["leads:write"])
    denied = _get(container, "/v1/reports/funnel", headers={"Authorization": f"Bearer {writer}"})
    assert denied.status_code == 403
    for path, params in (
        ("/v1/reports/attribution", {"model": "nope"}),
        ("/v1/reports/attribution", {"half_life_days": "0"}),
        ("/v1/reports/time-to-sign", {"group_by": "planet"}),
    ):
        assert _get(container, path, headers=auth, params=params).status_code == 422


# --- edges, CLI -----------------------------------------------------------------------------


def test_reports_on_an_empty_database_are_zeros_not_errors(databases: Databases) -> None:
    funnel = funnel_report(databases)
    assert {r["stage"]: r["count"] for r in funnel["rows"]}["captured"] == 0
    assert all(r["drop_off_pct"] is None for r in funnel["rows"])
    timing = time_to_sign_report(databases, group_by=GroupBy.CAMPAIGN)
    assert timing["rows"] == []
    assert timing["totals"]["sent_to_completed"] == {
        "count": 0,
        "p50_seconds": None,
        "p90_seconds": None,
    }
    credit = attribution_report(databases)
    assert credit["rows"] == []
    assert credit["totals"]["conversions"] == 0


def test_percentiles_interpolate_between_closest_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5  # h = 1.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.9) == pytest.approx(3.7)  # h = 2.7
    assert duration_text(2 * 86400 + 3 * 3600 + 59) == "2d 3h"
    assert duration_text(45.5 * 60) == "45m 30s"
    assert duration_text(0) == "0s"


def test_the_cli_prints_each_report(tmp_path: Path, databases: Databases) -> None:
    load(databases, dataset(lambda _i: "default"))
    config = tmp_path / "inkbridge.toml"
    url = databases.home.url
    config.write_text(f'data_dir = "{tmp_path}"\n[regions.default]\ndatabase_url = "{url}"\n')
    runner = CliRunner()
    table = runner.invoke(cli, ["report", "funnel", "--config", str(config)])
    assert table.exit_code == 0, table.output
    assert "qualified" in table.output and "160" in table.output
    as_csv = runner.invoke(
        cli,
        ["report", "funnel", "--config", str(config), "--campaign", "spring", "--format", "csv"],
    )
    assert as_csv.output.splitlines()[1] == "1,captured,67,,100.0"
    timing = runner.invoke(
        cli, ["report", "time-to-sign", "--config", str(config), "--group-by", "channel"]
    )
    assert timing.exit_code == 0, timing.output
    assert "all sent_to_first_view: n=90  p50 45m 30s" in timing.output
    credit = runner.invoke(
        cli,
        ["report", "attribution", "--config", str(config), "--model", "linear", "--format", "json"],
    )
    rows = {r["channel"]: r["linear"] for r in json.loads(credit.output)["rows"]}
    assert rows["organic"] == 17.5
