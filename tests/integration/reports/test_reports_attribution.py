"""The attribution report on real databases (SQLite file and PostgreSQL), over the generated
data set (see ``dataset``): each model's credit by channel and campaign, the stitching window,
filters, and the SQL against the domain journey by journey."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import datetime, timedelta

import pytest

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
from inkbridge.services.reports import CreditBy, ReportFilter, attribution_report
from inkbridge.store.attribution_query import attribution_credits
from inkbridge.store.database import Databases

from .dataset import DAY, T0, H, Rows, _envelope, _touch, dataset, load
from .expected import B_FIRST, _credits, _expected_by_channel


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
