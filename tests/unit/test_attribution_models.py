"""Attribution models by hand: credit per touch for each model on a known five-touch journey,
the edge cases (one and two touches, coinciding W anchors), stitching and journey assembly,
and the property that one conversion's credits always add up to exactly 1.0."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inkbridge.domain.attribution_models import (
    Conversion,
    Model,
    ObservedTouch,
    Touch,
    channel_of,
    credit,
    exact_shares,
    journey,
    stitch,
    w_anchors,
)

DAY0 = datetime(2026, 1, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    return DAY0 + timedelta(days=n)


# The journey: touches on days 0, 5, 10, 15 and 20; the lead was created on day 7 and the
# envelope sent on day 12; it was signed on day 20.
JOURNEY = tuple(
    Touch(day(d), channel)
    for d, channel in zip(
        (0, 5, 10, 15, 20), ("cpc", "email", "organic", "social", "referral"), strict=True
    )
)
CONVERSION = Conversion(
    JOURNEY, converted_at=day(20), lead_created_at=day(7), envelope_sent_at=day(12)
)


def shares(model: Model, conversion: Conversion = CONVERSION, **kwargs: float) -> list[float]:
    return list(credit(model, conversion, **kwargs))


def test_first_and_last_touch_take_everything() -> None:
    assert shares(Model.FIRST_TOUCH) == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert shares(Model.LAST_TOUCH) == [0.0, 0.0, 0.0, 0.0, 1.0]


def test_linear_gives_each_of_five_touches_a_fifth() -> None:
    assert shares(Model.LINEAR) == pytest.approx([0.2] * 5, abs=1e-12)


def test_time_decay_halves_the_weight_every_half_life() -> None:
    # Half-life 5 days, Δ back from day 20 = 20, 15, 10, 5, 0 days: weights 1/16, 1/8, 1/4,
    # 1/2, 1 add up to 31/16, so the shares are 1/31, 2/31, 4/31, 8/31, 16/31.
    expected = [1 / 31, 2 / 31, 4 / 31, 8 / 31, 16 / 31]
    assert shares(Model.TIME_DECAY, half_life_days=5) == pytest.approx(expected, abs=1e-12)


def test_time_decay_with_the_default_half_life_of_seven_days() -> None:
    # 2^(-20/7) = 0.138011, 2^(-15/7) = 0.226431, 2^(-10/7) = 0.371499, 2^(-5/7) = 0.609507,
    # 2^0 = 1; sum 2.345448; each divided by the sum:
    expected = [0.058842, 0.096541, 0.158391, 0.259868, 0.426358]
    assert shares(Model.TIME_DECAY) == pytest.approx(expected, abs=1e-6)


def test_time_decay_does_not_depend_on_how_long_before_the_conversion_it_all_happened() -> None:
    # Normalised weights only depend on the gaps between touches.
    late = Conversion(JOURNEY, converted_at=day(400), lead_created_at=day(7))
    assert shares(Model.TIME_DECAY, late) == shares(Model.TIME_DECAY)
    ancient = Conversion((Touch(day(-3650)), Touch(day(0))), converted_at=day(0))
    assert shares(Model.TIME_DECAY, ancient, half_life_days=1) == [0.0, 1.0]


def test_position_based_gives_forty_percent_to_each_end() -> None:
    # 40 % first, 40 % last, 20 % / 3 = 6.667 % to each of the three in the middle.
    middle = 0.2 / 3
    assert shares(Model.POSITION_BASED) == pytest.approx(
        [0.4, middle, middle, middle, 0.4], abs=1e-12
    )


def test_w_shaped_credits_first_lead_created_and_envelope_sent_touches() -> None:
    # Anchors: first (day 0); lead created on day 7 → last touch at or before it is day 5;
    # envelope sent on day 12 → day 10. 30 % each; days 15 and 20 share 10 %: 5 % each.
    assert w_anchors(CONVERSION) == (0, 1, 2)
    assert shares(Model.W_SHAPED) == pytest.approx([0.3, 0.3, 0.3, 0.05, 0.05], abs=1e-12)


def test_one_touch_takes_all_the_credit_in_every_model() -> None:
    alone = Conversion((Touch(day(0)),), converted_at=day(3), lead_created_at=day(1))
    for model in Model:
        assert shares(model, alone) == [1.0], model


def test_two_touches_split_fifty_fifty_when_position_based() -> None:
    pair = Conversion((Touch(day(0)), Touch(day(4))), converted_at=day(5), lead_created_at=day(2))
    assert shares(Model.POSITION_BASED, pair) == [0.5, 0.5]
    assert shares(Model.LINEAR, pair) == [0.5, 0.5]


def test_two_touch_w_shaped_shares_in_proportion_to_merged_anchors() -> None:
    touches = (Touch(day(0)), Touch(day(4)))
    # Created on day 2 (anchor: day 0, with first = 60 %), sent on day 4 (anchor: day 4,
    # 30 %). No middle touch: the 10 % goes to the anchors pro rata, 60:30 = 2/3 : 1/3.
    early = Conversion(touches, day(5), lead_created_at=day(2), envelope_sent_at=day(4))
    assert shares(Model.W_SHAPED, early) == pytest.approx([2 / 3, 1 / 3], abs=1e-12)
    # Created on day 4: created and sent anchors coincide on day 4: 30:60 = 1/3 : 2/3.
    late = Conversion(touches, day(5), lead_created_at=day(4), envelope_sent_at=day(4))
    assert shares(Model.W_SHAPED, late) == pytest.approx([1 / 3, 2 / 3], abs=1e-12)


def test_coinciding_w_anchors_add_up_on_their_touch() -> None:
    touches = tuple(Touch(day(d)) for d in (0, 3, 6, 9))
    # Created and sent both on day 7: anchors day 0 (30 %) and day 6 (30 + 30 %); days 3 and
    # 9 share 10 %.
    both = Conversion(touches, day(10), lead_created_at=day(7), envelope_sent_at=day(7))
    assert w_anchors(both) == (0, 2, 2)
    assert shares(Model.W_SHAPED, both) == pytest.approx([0.3, 0.05, 0.6, 0.05], abs=1e-12)
    # All three on the first touch: 90 % to it, 10 % / 3 to each other touch.
    first = Conversion(touches, day(10), lead_created_at=day(1), envelope_sent_at=day(2))
    assert w_anchors(first) == (0, 0, 0)
    third = 0.1 / 3
    assert shares(Model.W_SHAPED, first) == pytest.approx([0.9, third, third, third], abs=1e-12)


def test_without_a_sent_moment_the_sent_anchor_is_the_lead_created_one() -> None:
    unsent = Conversion(JOURNEY, converted_at=day(20), lead_created_at=day(7))
    assert w_anchors(unsent) == (0, 1, 1)
    assert shares(Model.W_SHAPED, unsent) == pytest.approx([0.3, 0.6, 0.1 / 3, 0.1 / 3, 0.1 / 3])


def test_a_touch_exactly_at_an_anchor_moment_is_that_anchor() -> None:
    at_creation = Conversion(JOURNEY, day(20), lead_created_at=day(5), envelope_sent_at=day(10))
    assert w_anchors(at_creation) == (0, 1, 2)


def test_invalid_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        Conversion((), converted_at=day(0))
    with pytest.raises(ValueError):
        credit(Model.TIME_DECAY, CONVERSION, half_life_days=0)
    with pytest.raises(ValueError):
        exact_shares([0.0, 0.0])


# --- channel, stitching and journey ---------------------------------------------------------


def test_the_channel_is_the_medium_else_referral_or_direct() -> None:
    assert channel_of("cpc", "https://google.com/") == "cpc"
    assert channel_of(None, "https://news.example.com/") == "referral"
    assert channel_of("", "") == "direct"
    assert channel_of(None, None) == "direct"


def _seen(at: datetime, anon: str | None, lead: str | None, channel: str) -> ObservedTouch:
    return ObservedTouch(Touch(at, channel), anonymous_id=anon, lead_id=lead)


def test_stitching_takes_the_leads_own_and_its_browsers_touches_within_the_window() -> None:
    created = day(10)
    touchpoints = [
        _seen(day(40), "a1", None, "at-the-window-edge"),
        _seen(day(1), "a1", None, "before-creation"),
        _seen(day(12), "a1", None, "after-creation"),
        _seen(day(40.001), "a1", None, "beyond-the-window"),
        _seen(day(90), None, "lead-1", "linked-late"),
        _seen(day(5), "a1", "lead-2", "another-leads"),
        _seen(day(6), "a2", None, "another-browser"),
    ]
    stitched = stitch(touchpoints, "a1", created, timedelta(days=30), lead_id="lead-1")
    assert [t.channel for t in stitched] == [
        "before-creation",
        "after-creation",
        "at-the-window-edge",
        "linked-late",
    ]
    # A lead captured without an anonymous id only has the touches recorded against it.
    assert [t.channel for t in stitch(touchpoints, None, created, lead_id="lead-1")] == [
        "linked-late"
    ]


def test_the_journey_starts_at_the_frozen_first_touch() -> None:
    frozen = Touch(day(2), "cpc", campaign="spring")
    stitched = [
        Touch(day(1), "earlier-than-first"),
        Touch(day(2), "same-moment-as-first"),
        Touch(day(4), "email"),
        Touch(day(9), "after-conversion"),
    ]
    assert journey(frozen, stitched, day(3), day(8)) == (frozen, Touch(day(4), "email"))
    # No first touch frozen at capture: a direct touch at lead creation stands in for it.
    assert journey(None, stitched, day(3), day(8)) == (
        Touch(day(3), "direct"),
        Touch(day(4), "email"),
    )


# --- properties -----------------------------------------------------------------------------

offsets = st.lists(st.integers(min_value=0, max_value=400 * 86400), min_size=1, max_size=15)
moments = st.none() | st.integers(min_value=-86400, max_value=400 * 86400)


@settings(max_examples=400, deadline=None)
@given(
    offsets=offsets,
    created=moments,
    sent=moments,
    model=st.sampled_from(Model),
    half_life=st.floats(min_value=0.01, max_value=3650, allow_nan=False),
)
def test_one_conversions_credits_sum_to_exactly_one(
    offsets: list[int], created: int | None, sent: int | None, model: Model, half_life: float
) -> None:
    touches = tuple(Touch(DAY0 + timedelta(seconds=s)) for s in sorted(offsets))
    conversion = Conversion(
        touches,
        converted_at=touches[-1].occurred_at,
        lead_created_at=None if created is None else DAY0 + timedelta(seconds=created),
        envelope_sent_at=None if sent is None else DAY0 + timedelta(seconds=sent),
    )
    got = credit(model, conversion, half_life_days=half_life)
    assert len(got) == len(touches)
    assert all(share >= 0 for share in got)
    assert sum(got) == 1.0
    assert sum(reversed(got)) == 1.0  # exact in any order, not just by luck of rounding


@settings(max_examples=300, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=30))
def test_exact_shares_are_proportional_and_add_up_to_one(weights: list[float]) -> None:
    if not math.fsum(weights) > 0:
        return
    got = exact_shares(weights)
    assert sum(got) == 1.0
    total = math.fsum(weights)
    for share, weight in zip(got, weights, strict=True):
        assert share == pytest.approx(weight / total, abs=2**-39)
