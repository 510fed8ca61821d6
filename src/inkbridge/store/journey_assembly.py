"""The SQL that assembles each conversion's journey from envelopes, leads and touchpoints: one
statement, used both to fill ``journey_touches`` (``inkbridge.store.attribution_journeys``)
and by the attribution report's query-time fallback (``inkbridge.store.attribution_query``).

It applies the rules of ``inkbridge.domain.attribution_models`` (read its docstring first) with
window functions, so no journey is shipped to Python:

1. ``conversions``: completed envelopes with a lead (optionally narrowed by conditions on
   ``envelopes`` and ``leads``), with their lead's created moment and anonymous id, the
   stitching horizon, and the frozen first touch: its moment from ``leads.first_touch``, its
   medium, source and campaign from the envelope's report columns (copied from that same
   frozen record when the envelope was created; the JSON is only read for the moment and,
   without a medium, the referrer);
2. ``touches``: per conversion, the frozen first touch, then the lead's touchpoints and the
   unlinked touchpoints of its anonymous id (up to the horizon) that fall strictly after the
   first touch and no later than the conversion, each reduced to the keys it can be credited
   under (channel, source, campaign);
3. one window pass (a single sort): position, count, and the W-shaped anchor positions, which
   are counts because touches are ordered by time: the last touch at or before a moment is the
   ``k``-th when ``k`` touches are at or before it (the first touch when none is). With decay,
   each touch also carries its age at the conversion and its distance from the first touch, in
   days; a caller may add per-conversion aggregates over the same window.

Times compare as they are stored: timestamps on PostgreSQL, canonical UTC text on SQLite
(``YYYY-MM-DD HH:MM:SS.ffffff`` orders as time). The frozen moment comes from JSON as ISO text
with an offset, so on SQLite it is normalised to milliseconds and touches are compared with it
at millisecond resolution; a touch within the same millisecond as the first touch is the first
touch. A test checks the result against the domain functions journey by journey.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
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
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects.postgresql import TIMESTAMP

from inkbridge.domain.attribution_models import DIRECT, REFERRAL
from inkbridge.store.schema import envelopes, leads, touchpoints

# What a touch can be credited under, named as the columns of journey_touches.
KEYS = ("channel", "source", "campaign")
# The columns journey_touches keeps so that reports filter without joining.
CARRIED = ("lead_id", "lead_created_at", "first_campaign", "template_key")

# Applies the one window definition of the pass to an aggregate.
Over = Callable[[Any], Any]
# Per-conversion columns a caller adds to the window pass: (the touch rows, over) -> columns.
PerConversion = Callable[[Any, Over], Sequence[ColumnElement[Any]]]


def channel(medium: ColumnElement[Any], referrer: ColumnElement[Any]) -> ColumnElement[str]:
    """``domain.attribution_models.channel_of`` in SQL: empty strings count as missing."""
    return func.coalesce(
        func.nullif(medium, ""),
        case((func.coalesce(referrer, "") != "", REFERRAL), else_=DIRECT),
    )


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


def _days(moment: ColumnElement[Any], dialect: str) -> ColumnElement[float]:
    """A moment as a day number, for the arithmetic of time decay only."""
    if dialect == "sqlite":
        return func.julianday(moment)
    return type_coerce(cast(extract("epoch", moment), Float) / literal(86400.0, Float), Float)


def conversions(
    conditions: Sequence[ColumnElement[bool]],
    *,
    window: timedelta,
    dialect: str,
    keys: Sequence[str] = KEYS,
    decay: bool = True,
    carry: bool = False,
) -> CTE:
    """Completed envelopes with a lead, with what their journeys are assembled from; only the
    columns asked for, since every one is computed for every conversion."""
    e, lead = envelopes.c, leads.c
    first = lead.first_touch
    first_at = func.coalesce(
        _frozen_moment(first["occurred_at"].as_string(), dialect), lead.created_at
    )
    first_keys: dict[str, ColumnElement[Any]] = {
        "channel": channel(e.utm_medium, first["referrer"].as_string()),
        "source": e.utm_source,
        "campaign": e.utm_campaign,
    }
    columns: list[ColumnElement[Any]] = [
        e.id.label("envelope_id"),
        e.lead_id.label("lead_id"),
        lead.anonymous_id.label("anonymous_id"),
        e.completed_at.label("converted"),
        lead.created_at.label("created"),
        # Without a sent moment the sent anchor falls back to the lead-created one.
        func.coalesce(e.sent_at, lead.created_at).label("sent"),
        _plus(lead.created_at, window, dialect).label("horizon"),
        first_at.label("first_at"),
        *(first_keys[key].label(key) for key in keys),
    ]
    if carry:
        columns += [e.utm_campaign.label("first_campaign"), e.template_key.label("template_key")]
    if decay:
        converted_day = _days(e.completed_at, dialect)
        columns += [
            converted_day.label("converted_day"),
            (converted_day - _days(first_at, dialect)).label("first_to_conversion"),
        ]
    return (
        select(*columns)
        .select_from(envelopes.join(leads, lead.id == e.lead_id))
        .where(e.completed_at.is_not(None), *conditions)
        .cte("conversions")
    )


def _touch_keys(keys: Sequence[str]) -> list[ColumnElement[Any]]:
    t = touchpoints.c
    by_key: dict[str, ColumnElement[Any]] = {
        "channel": channel(t.utm_medium, t.referrer),
        "source": t.utm_source,
        "campaign": t.utm_campaign,
    }
    return [by_key[key].label(key) for key in keys]


def _touches(conv: CTE, dialect: str, keys: Sequence[str], decay: bool, carry: bool) -> Subquery:
    """The touch rows; with decay, each also carries its age at the conversion and its distance
    from the first touch, both in days (one day-number per touch row)."""
    t = touchpoints.c
    carried: list[ColumnElement[Any]] = [conv.c.created, conv.c.sent]
    if carry:
        carried += [
            conv.c.lead_id,
            conv.c.created.label("lead_created_at"),
            conv.c.first_campaign,
            conv.c.template_key,
        ]

    def decay_terms(day: Callable[[], ColumnElement[float]]) -> tuple[ColumnElement[Any], ...]:
        if not decay:
            return ()
        age = day() - conv.c.converted_day
        # Derived from the age so that each touch row converts its moment only once.
        since_first = age + conv.c.first_to_conversion
        return age.label("age_days"), since_first.label("since_first_days")

    frozen = select(
        conv.c.envelope_id,
        conv.c.first_at.label("at"),
        literal(0).label("tid"),
        *(conv.c[key] for key in keys),
        *carried,
        *decay_terms(lambda: conv.c.converted_day - conv.c.first_to_conversion),
    )

    def stitched(join_on: ColumnElement[bool], *extra: ColumnElement[bool]) -> Select[Any]:
        return (
            select(
                conv.c.envelope_id,
                t.occurred_at.label("at"),
                t.id.label("tid"),
                *_touch_keys(keys),
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


def _anchor(count: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    # No touch at or before the moment: the anchor falls back to the first touch.
    return func.max(count, 1) if dialect == "sqlite" else func.greatest(count, 1)


def journey_rows(
    conv: CTE,
    *,
    dialect: str,
    keys: Sequence[str] = KEYS,
    decay: bool = True,
    carry: bool = False,
    per_conversion: PerConversion | None = None,
) -> Select[Any]:
    """One row per touch of each conversion of ``conv`` (built with the same ``keys``,
    ``decay`` and ``carry``), in journey order: the columns of ``journey_touches`` that were
    asked for, then the caller's per-conversion columns."""
    c = _touches(conv, dialect, keys, decay, carry).c

    def over(function: Any) -> Any:
        # One window definition for all: the database sorts the touches once.
        return function.over(partition_by=c.envelope_id, order_by=(c.at, c.tid), rows=(None, None))

    columns: list[ColumnElement[Any]] = [
        c.envelope_id,
        over(func.row_number()).label("position"),
        over(func.count()).label("touches"),
        _anchor(over(func.sum(case((c.at <= c.created, 1), else_=0))), dialect).label(
            "created_position"
        ),
        _anchor(over(func.sum(case((c.at <= c.sent, 1), else_=0))), dialect).label("sent_position"),
        *(c[key] for key in keys),
    ]
    if decay:
        columns += [c.age_days, c.since_first_days]
    if carry:
        columns += [c[name] for name in CARRIED]
    if per_conversion is not None:
        columns += per_conversion(c, over)
    return select(*columns)
