"""The SQL of the attribution report: every model's credit, summed per channel, campaign or
source, computed by the database in one statement per region.

It applies the rules of ``inkbridge.domain.attribution_models`` (read its docstring first) with
window functions, so no journey is shipped to Python:

1. ``conversions``: completed envelopes of the cohort with their lead's created moment,
   anonymous id and frozen first touch (read from ``leads.first_touch``);
2. ``touches``: per conversion, the frozen first touch, then the lead's touchpoints and the
   unlinked touchpoints of its anonymous id (within the stitching window) that fall strictly
   after the first touch and no later than the conversion;
3. positions: ``pos``, ``n`` and the latest touch per conversion;
4. anchors and decay: the W-shaped anchor positions and the time-decay weights with their sum;
5. credit per model, summed per group key.

Times are POSIX seconds (``report_queries.epoch_millis``) so both dialects compare and subtract
them alike. A test checks this statement against the domain functions journey by journey.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CTE,
    ColumnElement,
    Float,
    Select,
    Subquery,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    type_coerce,
    union_all,
)

from inkbridge.domain.attribution_models import (
    DIRECT,
    REFERRAL,
    U_ENDS,
    U_MIDDLE,
    W_ANCHOR,
    W_MIDDLE,
    Model,
)
from inkbridge.services.report_queries import NONE_LABEL, ReportFilter, epoch_millis
from inkbridge.store.schema import envelopes, leads, touchpoints


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


def conversions_cte(report_filter: ReportFilter, dialect: str) -> CTE:
    e, lead = envelopes.c, leads.c
    first = lead.first_touch
    created = epoch_millis(lead.created_at, dialect)
    first_at = epoch_millis(first["occurred_at"].as_string(), dialect, from_text=True)
    return (
        select(
            e.id.label("conversion"),
            e.lead_id.label("lead_id"),
            lead.anonymous_id.label("anonymous_id"),
            epoch_millis(e.completed_at, dialect).label("converted"),
            created.label("created"),
            # Without a sent moment the sent anchor falls back to the lead-created one.
            epoch_millis(func.coalesce(e.sent_at, lead.created_at), dialect).label("sent"),
            func.coalesce(first_at, created).label("first_at"),
            _channel(first["utm_medium"].as_string(), first["referrer"].as_string()).label(
                "channel"
            ),
            first["utm_source"].as_string().label("source"),
            first["utm_campaign"].as_string().label("campaign"),
        )
        .select_from(envelopes.join(leads, lead.id == e.lead_id))
        .where(
            e.completed_at.is_not(None),
            *report_filter.envelope_conditions(),
            *report_filter.lead_conditions(),
        )
        .cte("conversions")
    )


def _touches(conv: CTE, window: timedelta, dialect: str) -> Subquery:
    t = touchpoints.c
    at = epoch_millis(t.occurred_at, dialect)
    carried = (conv.c.created, conv.c.sent)
    frozen = select(
        conv.c.conversion,
        conv.c.first_at.label("at"),
        literal(0).label("tid"),
        conv.c.channel,
        conv.c.source,
        conv.c.campaign,
        *carried,
    )

    def stitched(join_on: ColumnElement[bool], *extra: ColumnElement[bool]) -> Select[Any]:
        return (
            select(
                conv.c.conversion,
                at.label("at"),
                t.id.label("tid"),
                _channel(t.utm_medium, t.referrer).label("channel"),
                t.utm_source.label("source"),
                t.utm_campaign.label("campaign"),
                *carried,
            )
            .select_from(conv.join(touchpoints, join_on))
            .where(at > conv.c.first_at, at <= conv.c.converted, *extra)
        )

    linked = stitched(t.lead_id == conv.c.lead_id)
    anonymous = stitched(
        and_(t.anonymous_id == conv.c.anonymous_id, t.lead_id.is_(None)),
        at <= conv.c.created + int(window.total_seconds() * 1000),
    )
    return union_all(frozen, linked, anonymous).subquery("touches")


def _positioned(touches: Subquery) -> Subquery:
    per_conversion = touches.c.conversion
    return select(
        touches,
        func.row_number()
        .over(partition_by=per_conversion, order_by=(touches.c.at, touches.c.tid))
        .label("pos"),
        func.count().over(partition_by=per_conversion).label("n"),
        func.max(touches.c.at).over(partition_by=per_conversion).label("last_at"),
    ).subquery("positioned")


def _anchored(positioned: Subquery, half_life_days: float) -> Subquery:
    p = positioned.c
    per_conversion = p.conversion
    # Relative to the latest touch: the same shares as relative to the conversion, no underflow.
    decay = func.power(_number(2.0), (p.at - p.last_at) / _number(half_life_days * 86_400_000.0))
    return select(
        positioned,
        func.max(case((p.at <= p.created, p.pos))).over(partition_by=per_conversion).label("c_pos"),
        func.max(case((p.at <= p.sent, p.pos))).over(partition_by=per_conversion).label("s_pos"),
        decay.label("decay"),
        func.sum(decay).over(partition_by=per_conversion).label("decay_sum"),
    ).subquery("anchored")


def _credit(model: Model, a: Subquery) -> ColumnElement[float]:
    c = a.c
    zero, one = _number(0.0), _number(1.0)
    if model is Model.FIRST_TOUCH:
        return case((c.pos == 1, one), else_=zero)
    if model is Model.LAST_TOUCH:
        return case((c.pos == c.n, one), else_=zero)
    if model is Model.LINEAR:
        return one / c.n
    if model is Model.TIME_DECAY:
        return type_coerce(c.decay / c.decay_sum, Float)
    if model is Model.POSITION_BASED:
        return case(
            (c.n == 1, one),
            (c.n == 2, _number(0.5)),
            (or_(c.pos == 1, c.pos == c.n), _number(U_ENDS)),
            else_=_number(U_MIDDLE) / (c.n - 2),
        )
    if model is Model.W_SHAPED:
        created_pos = func.coalesce(c.c_pos, 1)
        sent_pos = func.coalesce(c.s_pos, 1)
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
    """One row per group key: the key, then the summed credit of each model in ``models``."""
    conv = conversions_cte(report_filter, dialect)
    anchored = _anchored(_positioned(_touches(conv, window, dialect)), half_life_days)
    key = func.coalesce(anchored.c[credit_by.value], NONE_LABEL).label(credit_by.value)
    columns: list[ColumnElement[Any]] = [key]
    columns += [func.sum(_credit(model, anchored)).label(model.value) for model in models]
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
