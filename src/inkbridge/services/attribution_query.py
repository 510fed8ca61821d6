"""The SQL of the attribution report: every model's credit, summed per channel, campaign or
source, computed by the database in one statement per region.

It applies the rules of ``inkbridge.domain.attribution_models`` (read its docstring first) with
window functions, so no journey is shipped to Python:

1. ``conversions``: completed envelopes of the cohort, with their lead's created moment and
   anonymous id, the stitching horizon, and the frozen first touch: its moment from
   ``leads.first_touch``, its medium, source and campaign from the envelope's report columns
   (copied from that same frozen record when the envelope was created; the JSON is only read
   for the moment and, without a medium, the referrer);
2. ``touches``: per conversion, the frozen first touch, then the lead's touchpoints and the
   unlinked touchpoints of its anonymous id (up to the horizon) that fall strictly after the
   first touch and no later than the conversion, each reduced to the one key credited;
3. one window pass (a single sort): position, count, and the W-shaped anchor positions, which
   are counts because touches are ordered by time: the last touch at or before a moment is the
   ``k``-th when ``k`` touches are at or before it; with time decay, the weights are summed in
   the same pass (see ``_time_decay``);
4. credit per model, summed per key. First touch alone needs no journey at all.

Times compare as they are stored: timestamps on PostgreSQL, canonical UTC text on SQLite
(``YYYY-MM-DD HH:MM:SS.ffffff`` orders as time). The frozen moment comes from JSON as ISO text
with an offset, so on SQLite it is normalised to milliseconds and touches are compared with it
at millisecond resolution; a touch within the same millisecond as the first touch is the first
touch. A test checks this statement against the domain functions journey by journey.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Float,
    Interval,
    Select,
    Subquery,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects.postgresql import TIMESTAMP

from inkbridge.domain.attribution_models import (
    DIRECT,
    REFERRAL,
    U_ENDS,
    U_MIDDLE,
    W_ANCHOR,
    W_MIDDLE,
    Model,
)
from inkbridge.services.report_queries import NONE_LABEL, ReportFilter
from inkbridge.store.schema import envelopes, leads, touchpoints

# Exponents stay within ±1000 so powers of two neither underflow nor overflow a double (and
# PostgreSQL, which raises on either, never sees one).
DECAY_EXPONENT_LIMIT = 1000.0
# Up to this many half-lives before the conversion the latest touch's weight is still exact.
CONVERSION_REFERENCE_LIMIT = 900.0


class CreditBy(StrEnum):
    CHANNEL = "channel"
    CAMPAIGN = "campaign"
    SOURCE = "source"


def _channel(medium: ColumnElement[Any], referrer: ColumnElement[Any]) -> ColumnElement[str]:
    """``domain.attribution_models.channel_of`` in SQL: empty strings count as missing."""
    return func.coalesce(
        func.nullif(medium, ""),
        case((func.coalesce(referrer, "") != "", REFERRAL), else_=DIRECT),
    )


def _number(value: float) -> ColumnElement[float]:
    # A typed literal keeps the division in floating point on both backends.
    return literal(value, Float)


def _frozen_moment(iso_text: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":
        return func.strftime("%Y-%m-%d %H:%M:%f", iso_text)  # UTC, milliseconds
    return cast(iso_text, TIMESTAMP(timezone=True))


def _after_first(moment: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    """A touch's moment in the form it is compared with the first touch's."""
    return func.substr(moment, 1, 23) if dialect == "sqlite" else moment


def _plus(moment: ColumnElement[Any], window: timedelta, dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":
        # Whole seconds added to the canonical text, its microseconds kept as they were.
        seconds = f"+{round(window.total_seconds())} seconds"
        return func.strftime("%Y-%m-%d %H:%M:%S", moment, seconds).concat(func.substr(moment, 20))
    return moment + literal(window, Interval())


def _at_least(value: ColumnElement[float], floor: float, dialect: str) -> ColumnElement[float]:
    bound = _number(floor)
    return func.max(value, bound) if dialect == "sqlite" else func.greatest(value, bound)


def _at_most(value: ColumnElement[float], ceiling: float, dialect: str) -> ColumnElement[float]:
    bound = _number(ceiling)
    return func.min(value, bound) if dialect == "sqlite" else func.least(value, bound)


def _days(moment: ColumnElement[Any], dialect: str) -> ColumnElement[float]:
    """A moment as a day number, for the arithmetic of time decay only."""
    if dialect == "sqlite":
        return func.julianday(moment)
    return type_coerce(cast(extract("epoch", moment), Float) / _number(86400.0), Float)


def conversions_cte(
    report_filter: ReportFilter,
    window: timedelta,
    dialect: str,
    credit_by: CreditBy,
    with_decay: bool,
) -> CTE:
    """Completed envelopes of the cohort with what their journeys are assembled from; only the
    columns the asked models need, since every one is computed for every conversion."""
    e, lead = envelopes.c, leads.c
    first = lead.first_touch
    first_at = func.coalesce(
        _frozen_moment(first["occurred_at"].as_string(), dialect), lead.created_at
    )
    first_key: ColumnElement[Any] = {
        CreditBy.CHANNEL: _channel(e.utm_medium, first["referrer"].as_string()),
        CreditBy.SOURCE: e.utm_source,
        CreditBy.CAMPAIGN: e.utm_campaign,
    }[credit_by]
    columns: list[ColumnElement[Any]] = [
        e.id.label("conversion"),
        e.lead_id.label("lead_id"),
        lead.anonymous_id.label("anonymous_id"),
        e.completed_at.label("converted"),
        lead.created_at.label("created"),
        # Without a sent moment the sent anchor falls back to the lead-created one.
        func.coalesce(e.sent_at, lead.created_at).label("sent"),
        _plus(lead.created_at, window, dialect).label("horizon"),
        first_at.label("first_at"),
        first_key.label("key"),
    ]
    if with_decay:
        converted_day = _days(e.completed_at, dialect)
        columns += [
            converted_day.label("converted_day"),
            (converted_day - _days(first_at, dialect)).label("first_to_conversion"),
        ]
    return (
        select(*columns)
        .select_from(envelopes.join(leads, lead.id == e.lead_id))
        .where(
            e.completed_at.is_not(None),
            *report_filter.envelope_conditions(),
            *report_filter.lead_conditions(),
        )
        .cte("conversions")
    )


def _touch_key(credit_by: CreditBy) -> ColumnElement[Any]:
    t = touchpoints.c
    if credit_by is CreditBy.CHANNEL:
        return _channel(t.utm_medium, t.referrer)
    return t.utm_source if credit_by is CreditBy.SOURCE else t.utm_campaign


def _touches(
    conv: CTE, credit_by: CreditBy, dialect: str, half_life_days: float | None
) -> Subquery:
    """The touch rows; with a half-life, each also carries its age at the conversion and its
    distance from the first touch, both in half-lives (one day-number per touch row)."""
    t = touchpoints.c
    carried = (conv.c.created, conv.c.sent)

    def decay_terms(day: Callable[[], ColumnElement[float]]) -> tuple[ColumnElement[Any], ...]:
        if half_life_days is None:
            return ()
        half_life = _number(half_life_days)
        age = (day() - conv.c.converted_day) / half_life
        # Derived from the age so that each touch row converts its moment only once.
        since_first = age + conv.c.first_to_conversion / half_life
        return age.label("age"), since_first.label("since_first")

    frozen = select(
        conv.c.conversion,
        conv.c.first_at.label("at"),
        literal(0).label("tid"),
        conv.c.key,
        *carried,
        *decay_terms(lambda: conv.c.converted_day - conv.c.first_to_conversion),
    )

    def stitched(join_on: ColumnElement[bool], *extra: ColumnElement[bool]) -> Select[Any]:
        return (
            select(
                conv.c.conversion,
                t.occurred_at.label("at"),
                t.id.label("tid"),
                _touch_key(credit_by).label("key"),
                *carried,
                *decay_terms(lambda: _days(t.occurred_at, dialect)),
            )
            .select_from(conv.join(touchpoints, join_on))
            .where(
                # The plain comparison lets an index on (…, occurred_at) bound the range; the
                # exact one (milliseconds on SQLite) decides.
                t.occurred_at > conv.c.first_at,
                _after_first(t.occurred_at, dialect) > conv.c.first_at,
                t.occurred_at <= conv.c.converted,
                *extra,
            )
        )

    linked = stitched(t.lead_id == conv.c.lead_id)
    # "Unlinked" written so that no index on lead_id can serve it: SQLite's planner, without
    # statistics, would otherwise walk every unlinked touchpoint instead of seeking each
    # conversion's anonymous id.
    unlinked = func.coalesce(t.lead_id, "") == ""
    anonymous = stitched(
        and_(t.anonymous_id == conv.c.anonymous_id, unlinked), t.occurred_at <= conv.c.horizon
    )
    return union_all(frozen, linked, anonymous).subquery("touches")


def _positioned(touches: Subquery, dialect: str, with_decay: bool) -> Subquery:
    c = touches.c

    def over(function: Any) -> Any:
        # One window definition for all: the database sorts the touches once.
        return function.over(partition_by=c.conversion, order_by=(c.at, c.tid), rows=(None, None))

    columns: list[ColumnElement[Any]] = [
        c.conversion,
        c.key,
        over(func.row_number()).label("pos"),
        over(func.count()).label("n"),
        over(func.sum(case((c.at <= c.created, 1), else_=0))).label("created_pos"),
        over(func.sum(case((c.at <= c.sent, 1), else_=0))).label("sent_pos"),
    ]
    if with_decay:
        columns += [
            c.age,
            c.since_first,
            over(func.max(c.age)).label("latest_age"),
            over(func.sum(_from_conversion(c.age, dialect))).label("sum_from_conversion"),
            over(func.sum(_from_first(c.since_first, dialect))).label("sum_from_first"),
        ]
    return select(*columns).subquery("positioned")


def _from_conversion(age: ColumnElement[Any], dialect: str) -> ColumnElement[float]:
    # PostgreSQL raises on underflow; 2^-1000 is as good as zero next to any weight that counts.
    return func.power(_number(2.0), _at_least(age, -DECAY_EXPONENT_LIMIT, dialect))


def _from_first(since_first: ColumnElement[Any], dialect: str) -> ColumnElement[float]:
    return func.power(_number(2.0), _at_most(since_first, DECAY_EXPONENT_LIMIT, dialect))


def _time_decay(c: Any, dialect: str) -> ColumnElement[float]:
    """2^(-Δt/half-life) back from the conversion, normalised, in the same window pass as the
    positions. When even the latest touch is too old for that to be representable (900+
    half-lives before the conversion), the same shares are computed forward from the first
    touch instead; only journeys that also span 1000+ half-lives come out approximate."""
    near = c.latest_age >= -CONVERSION_REFERENCE_LIMIT
    return case(
        (near, _from_conversion(c.age, dialect) / c.sum_from_conversion),
        else_=_from_first(c.since_first, dialect) / c.sum_from_first,
    )


def _credit(model: Model, a: Subquery, dialect: str) -> ColumnElement[float]:
    c = a.c
    zero, one = _number(0.0), _number(1.0)
    if model is Model.FIRST_TOUCH:
        return case((c.pos == 1, one), else_=zero)
    if model is Model.LAST_TOUCH:
        return case((c.pos == c.n, one), else_=zero)
    if model is Model.LINEAR:
        return one / c.n
    if model is Model.TIME_DECAY:
        return _time_decay(c, dialect)
    if model is Model.POSITION_BASED:
        return case(
            (c.n == 1, one),
            (c.n == 2, _number(0.5)),
            (or_(c.pos == 1, c.pos == c.n), _number(U_ENDS)),
            else_=_number(U_MIDDLE) / (c.n - 2),
        )
    if model is Model.W_SHAPED:
        # No touch at or before the moment: the anchor falls back to the first touch.
        created_pos = case((c.created_pos > 0, c.created_pos), else_=1)
        sent_pos = case((c.sent_pos > 0, c.sent_pos), else_=1)
        anchor_share = (
            case((c.pos == 1, _number(W_ANCHOR)), else_=zero)
            + case((c.pos == created_pos, _number(W_ANCHOR)), else_=zero)
            + case((c.pos == sent_pos, _number(W_ANCHOR)), else_=zero)
        )
        distinct_anchors = (
            1
            + case((created_pos != 1, 1), else_=0)
            + case((and_(sent_pos != 1, sent_pos != created_pos), 1), else_=0)
        )
        middle = c.n - distinct_anchors
        return case(
            (middle > 0, case((anchor_share > 0, anchor_share), else_=_number(W_MIDDLE) / middle)),
            # No middle touch: the anchors share everything in proportion (see the domain).
            else_=anchor_share / _number(3 * W_ANCHOR),
        )
    raise ValueError(f"unknown attribution model {model!r}")


def attribution_credits(
    report_filter: ReportFilter,
    *,
    models: Sequence[Model],
    credit_by: CreditBy,
    half_life_days: float,
    window: timedelta,
    dialect: str,
) -> Select[Any]:
    """One row per key: the key, then the summed credit of each model in ``models``."""
    decays = Model.TIME_DECAY in models
    conv = conversions_cte(report_filter, window, dialect, credit_by, with_decay=decays)
    if set(models) == {Model.FIRST_TOUCH}:
        # The frozen first touch takes it all: no journey needs assembling.
        first_key = func.coalesce(conv.c.key, NONE_LABEL).label(credit_by.value)
        credit = cast(func.count(), Float).label(Model.FIRST_TOUCH.value)
        return select(first_key, credit).group_by(first_key)
    touches = _touches(conv, credit_by, dialect, half_life_days if decays else None)
    scored = _positioned(touches, dialect, with_decay=decays)
    key = func.coalesce(scored.c.key, NONE_LABEL).label(credit_by.value)
    columns: list[ColumnElement[Any]] = [key]
    columns += [func.sum(_credit(model, scored, dialect)).label(model.value) for model in models]
    return select(*columns).group_by(key)


def conversion_count(report_filter: ReportFilter) -> Select[Any]:
    e = envelopes.c
    statement = (
        select(func.count())
        .select_from(envelopes)
        .where(
            e.completed_at.is_not(None),
            e.lead_id.is_not(None),
            *report_filter.envelope_conditions(),
        )
    )
    if report_filter.needs_leads:
        statement = statement.join(leads, leads.c.id == e.lead_id).where(
            *report_filter.lead_conditions()
        )
    return statement
