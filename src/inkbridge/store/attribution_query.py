"""The SQL of the attribution report: every model's credit, summed per channel, campaign or
source, computed by the database in one statement per region.

Journeys come from ``journey_touches``, kept at write time by
``inkbridge.store.attribution_journeys`` for the stored stitching window
(``STORED_STITCH_WINDOW``, the default). The report is one scan of it, narrowed by plain
conditions on its columns, crediting each touch from its position, its journey's count and its
W-shaped anchors. Time decay also needs per-journey sums of weights, which depend on the
half-life asked for. On SQLite they come from one group per conversion, which the table's
primary key order serves without a sort, joined back to the conversion's touches by primary
key; on PostgreSQL from a window partitioned by conversion (each is the cheaper on its backend).
With time decay, journeys of one touch are left out of that: their touch takes credit 1 under
every model, so they are counted per key from a partial index (``ix_journey_touches_single``)
and added to the longer journeys' credits.

Asked for another stitching window (or with ``assemble``), journeys are assembled at query time
by the statement that fills the table (``inkbridge.store.journey_assembly``), restricted to the
report's conversions, with the decay sums in its one window pass. That is the reference the
stored journeys are checked against; the credit expressions are the same either way (they
apply ``inkbridge.domain.attribution_models``, read its docstring first).

First touch alone needs no journey: it is a count of conversions by their first touch. The
number of conversions is counted from the stored first touches either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
    text,
    union_all,
)

from inkbridge.domain.attribution_models import (
    U_ENDS,
    U_MIDDLE,
    W_ANCHOR,
    W_MIDDLE,
    Model,
)
from inkbridge.store.attribution_journeys import STORED_STITCH_WINDOW
from inkbridge.store.journey_assembly import Over, PerConversion, conversions, journey_rows
from inkbridge.store.report_queries import NONE_LABEL, ReportFilter
from inkbridge.store.schema import envelopes, journey_touches
from inkbridge.store.schema_journeys import SINGLE_TOUCH

# Exponents stay within ±1000 so powers of two neither underflow nor overflow a double (and
# PostgreSQL, which raises on either, never sees one).
DECAY_EXPONENT_LIMIT = 1000.0
# Up to this many half-lives before the conversion the latest touch's weight is still exact.
CONVERSION_REFERENCE_LIMIT = 900.0


class CreditBy(StrEnum):
    # Named as the key columns of journey_touches.
    CHANNEL = "channel"
    CAMPAIGN = "campaign"
    SOURCE = "source"


def reads_stored_journeys(window: timedelta) -> bool:
    """Whether a report with this stitching window can read ``journey_touches``."""
    return window == STORED_STITCH_WINDOW


def _number(value: float) -> ColumnElement[float]:
    # A typed literal keeps the division in floating point on both backends.
    return literal(value, Float)


def _at_least(value: ColumnElement[float], floor: float, dialect: str) -> ColumnElement[float]:
    bound = _number(floor)
    return func.max(value, bound) if dialect == "sqlite" else func.greatest(value, bound)


def _at_most(value: ColumnElement[float], ceiling: float, dialect: str) -> ColumnElement[float]:
    bound = _number(ceiling)
    return func.min(value, bound) if dialect == "sqlite" else func.least(value, bound)


# --- time decay -----------------------------------------------------------------------------


def _half_lives(c: Any, half_life_days: float) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """A touch's age at the conversion and its distance from the first touch, in half-lives."""
    half_life = _number(half_life_days)
    return c.age_days / half_life, c.since_first_days / half_life


def _from_conversion(age: ColumnElement[Any], dialect: str) -> ColumnElement[float]:
    # PostgreSQL raises on underflow; 2^-1000 is as good as zero next to any weight that counts.
    exponent = _at_least(age, -DECAY_EXPONENT_LIMIT, dialect)
    return func.power(_number(2.0), exponent, type_=Float)


def _from_first(since_first: ColumnElement[Any], dialect: str) -> ColumnElement[float]:
    exponent = _at_most(since_first, DECAY_EXPONENT_LIMIT, dialect)
    return func.power(_number(2.0), exponent, type_=Float)


def _decay_sums(half_life_days: float, dialect: str) -> PerConversion:
    """Per journey: the latest touch's age and the sums of the weights both ways."""

    def columns(c: Any, over: Over) -> list[ColumnElement[Any]]:
        age, since_first = _half_lives(c, half_life_days)
        # Typed as floats, so that dividing by them stays in double precision on PostgreSQL.
        return [
            over(func.max(age, type_=Float)).label("latest_age"),
            over(func.sum(_from_conversion(age, dialect), type_=Float)).label(
                "sum_from_conversion"
            ),
            over(func.sum(_from_first(since_first, dialect), type_=Float)).label("sum_from_first"),
        ]

    return columns


def _time_decay(c: Any, half_life_days: float, dialect: str) -> ColumnElement[float]:
    """2^(-Δt/half-life) back from the conversion, normalised. When even the latest touch is
    too old for that to be representable (900+ half-lives before the conversion), the same
    shares are computed forward from the first touch instead; only journeys that also span
    1000+ half-lives come out approximate."""
    age, since_first = _half_lives(c, half_life_days)
    near = c.latest_age >= -CONVERSION_REFERENCE_LIMIT
    return case(
        (near, _from_conversion(age, dialect) / c.sum_from_conversion),
        else_=_from_first(since_first, dialect) / c.sum_from_first,
    )


# --- credit ---------------------------------------------------------------------------------


def _credit(model: Model, c: Any, half_life_days: float, dialect: str) -> ColumnElement[float]:
    """One touch's credit under ``model``, from the columns of a journey_touches row (plus the
    decay sums for time decay)."""
    zero, one = _number(0.0), _number(1.0)
    position: ColumnElement[int] = c.position
    touches: ColumnElement[int] = c.touches
    if model is Model.FIRST_TOUCH:
        return case((position == 1, one), else_=zero)
    if model is Model.LAST_TOUCH:
        return case((position == touches, one), else_=zero)
    if model is Model.LINEAR:
        return one / touches
    if model is Model.TIME_DECAY:
        return _time_decay(c, half_life_days, dialect)
    if model is Model.POSITION_BASED:
        return case(
            (touches == 1, one),
            (touches == 2, _number(0.5)),
            (or_(position == 1, position == touches), _number(U_ENDS)),
            else_=_number(U_MIDDLE) / (touches - 2),
        )
    if model is Model.W_SHAPED:
        created, sent = c.created_position, c.sent_position
        anchor_share = (
            case((position == 1, _number(W_ANCHOR)), else_=zero)
            + case((position == created, _number(W_ANCHOR)), else_=zero)
            + case((position == sent, _number(W_ANCHOR)), else_=zero)
        )
        distinct_anchors = (
            1
            + case((created != 1, 1), else_=0)
            + case((and_(sent != 1, sent != created), 1), else_=0)
        )
        middle = touches - distinct_anchors
        return case(
            (middle > 0, case((anchor_share > 0, anchor_share), else_=_number(W_MIDDLE) / middle)),
            # No middle touch: the anchors share everything in proportion (see the domain).
            else_=anchor_share / _number(3 * W_ANCHOR),
        )
    raise ValueError(f"unknown attribution model {model!r}")


def _summed(
    c: Any,
    models: Sequence[Model],
    credit_by: CreditBy,
    half_life_days: float,
    dialect: str,
) -> Select[Any]:
    key = func.coalesce(c[credit_by.value], NONE_LABEL).label(credit_by.value)
    sums = [
        func.sum(_credit(model, c, half_life_days, dialect)).label(model.value) for model in models
    ]
    return select(key, *sums).group_by(key)


def _first_touch_count(key_column: ColumnElement[Any], credit_by: CreditBy) -> Select[Any]:
    key = func.coalesce(key_column, NONE_LABEL).label(credit_by.value)
    credit = cast(func.count(), Float).label(Model.FIRST_TOUCH.value)
    return select(key, credit).group_by(key)


# --- from journey_touches -------------------------------------------------------------------


def _stored_conditions(report_filter: ReportFilter) -> list[ColumnElement[bool]]:
    """The report filter on journey_touches' own copies of the filtered columns."""
    j = journey_touches.c
    conditions: list[ColumnElement[bool]] = []
    if report_filter.since is not None:
        conditions.append(j.lead_created_at >= report_filter.since)
    if report_filter.until is not None:
        conditions.append(j.lead_created_at < report_filter.until)
    if report_filter.campaign is not None:
        conditions.append(j.first_campaign == report_filter.campaign)
    if report_filter.template is not None:
        conditions.append(j.template_key == report_filter.template)
    if report_filter.channel is not None:
        # The channel is the lead's first-touch medium, which journey_touches does not copy:
        # the envelope's copy of it (utm_medium, frozen at creation) selects the same leads as
        # the funnel's and time-to-sign's channel filter.
        medium = select(envelopes.c.id).where(envelopes.c.utm_medium == report_filter.channel)
        conditions.append(j.envelope_id.in_(medium))
    return conditions


def _single_touch_credits(
    models: Sequence[Model], credit_by: CreditBy, conditions: Sequence[ColumnElement[bool]]
) -> Select[Any]:
    """Journeys of one touch, per key: that touch takes credit 1 under every model, so each
    model's credit is their count, read from ``ix_journey_touches_single`` (partial on the
    same condition) without a credit expression; by channel, in the index's order."""
    j = journey_touches.c
    raw = j[credit_by.value]
    counted = (
        select(raw.label("key"), func.count().label("journeys"))
        .where(text(SINGLE_TOUCH), *conditions)
        .group_by(raw)
        .subquery("single")
    )
    key = func.coalesce(counted.c.key, NONE_LABEL).label(credit_by.value)
    journeys = cast(counted.c.journeys, Float)
    return select(key, *(journeys.label(m.value) for m in models))


def _stored_credits(
    report_filter: ReportFilter,
    models: Sequence[Model],
    credit_by: CreditBy,
    half_life_days: float,
    dialect: str,
) -> Select[Any]:
    """With time decay, journeys of several touches credited touch by touch and those of one
    touch counted (``_single_touch_credits``), the two added per key. Without it, one scan
    credits every touch: counting apart saved nothing measurable there (the credits are cheap
    next to the scan and the sort), and the sums keep their order."""
    j = journey_touches.c
    conditions = _stored_conditions(report_filter)
    if set(models) == {Model.FIRST_TOUCH}:
        return _first_touch_count(j[credit_by.value], credit_by).where(j.position == 1, *conditions)
    if Model.TIME_DECAY not in models:
        return _summed(j, models, credit_by, half_life_days, dialect).where(*conditions)
    single = _single_touch_credits(models, credit_by, conditions)

    def columns(c: Any) -> tuple[ColumnElement[Any], ...]:
        return (
            *(c.position, c.touches, c.created_position, c.sent_position),
            *(c[credit_by.value], c.age_days, c.since_first_days),
        )

    if dialect != "sqlite":
        # PostgreSQL: the journey's sums from a window partitioned by journey, as the primary
        # key orders the rows (a fifth cheaper there than the grouping joined back below).
        def over(function: Any) -> Any:
            return function.over(partition_by=j.envelope_id)

        windowed = select(*columns(j), *_decay_sums(half_life_days, dialect)(j, over)).where(
            j.touches > 1, *conditions
        )
        longer = _credited(
            windowed.subquery("windowed"), models, credit_by, half_life_days, dialect
        )
        return _added(union_all(longer, single), models, credit_by)
    # SQLite: the sums of each journey of several touches from one group per journey (read in
    # primary key order, no sort), joined back to its touches by primary key; the window gives
    # the same sums (same rows, same order) at twice the cost, buffering every partition. Each
    # touch's credits are computed beside the sums, so the grouping by key, which SQLite does
    # by sorting, carries only the key and the credits.
    journeys = (
        select(j.envelope_id, *_decay_sums(half_life_days, dialect)(j, _whole_group))
        .where(j.touches > 1, *conditions)
        .group_by(j.envelope_id)
        .subquery("journeys")
    )
    touch = journey_touches.alias("touch")
    sums = (journeys.c.latest_age, journeys.c.sum_from_conversion, journeys.c.sum_from_first)
    joined = select(*columns(touch.c), *sums).join_from(
        journeys, touch, touch.c.envelope_id == journeys.c.envelope_id
    )
    longer = _credited(joined.subquery("joined"), models, credit_by, half_life_days, dialect)
    return _added(union_all(longer, single), models, credit_by)


def _added(parts: Any, models: Sequence[Model], credit_by: CreditBy) -> Select[Any]:
    """Per key, the sum of each model's credit over ``parts`` (rows of key and credits)."""
    rows = parts.subquery("credited")
    key = rows.c[credit_by.value]
    return select(key, *(func.sum(rows.c[m.value]).label(m.value) for m in models)).group_by(key)


def _whole_group(function: Any) -> Any:
    # The aggregate as it is, over its GROUP BY group (where the assembly passes a window).
    return function


def _credited(
    c: Any, models: Sequence[Model], credit_by: CreditBy, half_life_days: float, dialect: str
) -> Select[Any]:
    """One row per touch: its key and its credit under each model."""
    key = func.coalesce(c.c[credit_by.value], NONE_LABEL).label(credit_by.value)
    credits = [_credit(m, c.c, half_life_days, dialect).label(m.value) for m in models]
    return select(key, *credits)


# --- assembled at query time ----------------------------------------------------------------


def _assembled_credits(
    report_filter: ReportFilter,
    models: Sequence[Model],
    credit_by: CreditBy,
    half_life_days: float,
    window: timedelta,
    dialect: str,
) -> Select[Any]:
    decays = Model.TIME_DECAY in models
    keys = [credit_by.value]
    conv = conversions(
        [*report_filter.envelope_conditions(), *report_filter.lead_conditions()],
        window=window,
        dialect=dialect,
        keys=keys,
        decay=decays,
    )
    if set(models) == {Model.FIRST_TOUCH}:
        # The frozen first touch takes it all: no journey needs assembling.
        return _first_touch_count(conv.c[credit_by.value], credit_by)
    rows = journey_rows(
        conv,
        dialect=dialect,
        keys=keys,
        decay=decays,
        per_conversion=_decay_sums(half_life_days, dialect) if decays else None,
    ).subquery("positioned")
    return _summed(rows.c, models, credit_by, half_life_days, dialect)


def attribution_credits(
    report_filter: ReportFilter,
    *,
    models: Sequence[Model],
    credit_by: CreditBy,
    half_life_days: float,
    window: timedelta,
    dialect: str,
    assemble: bool = False,
) -> Select[Any]:
    """One row per key: the key, then the summed credit of each model in ``models``. Reads the
    stored journeys unless ``window`` is not the stored one or ``assemble`` asks for the
    query-time assembly (the reference)."""
    if assemble or not reads_stored_journeys(window):
        return _assembled_credits(report_filter, models, credit_by, half_life_days, window, dialect)
    return _stored_credits(report_filter, models, credit_by, half_life_days, dialect)


def conversion_count(report_filter: ReportFilter) -> Select[Any]:
    """Completed envelopes with a lead, of the cohort: each has exactly one first touch among
    the stored journeys (whatever the stitching window)."""
    j = journey_touches.c
    return select(func.count()).where(j.position == 1, *_stored_conditions(report_filter))
