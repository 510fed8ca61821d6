"""The SQL of the funnel and time-to-sign reports, for one region's database.

Owns the statements, and the cohort filter and labels the attribution query shares with
them. Everything reads the plain report columns of ``envelopes``
(milestones, first-touch campaign and medium, time-to-sign intervals) rather than the JSON
record, so the database aggregates over columns and indexes; the one exception is the lead-level
campaign filter of the funnel, which has only ``leads.first_touch`` to go by.

SQLite stores our timestamps as ``YYYY-MM-DD HH:MM:SS.ffffff`` text, which compares correctly as
text. PostgreSQL uses ``timestamptz`` natively. Time to sign does no date arithmetic at all: it
reads the intervals each envelope carries in whole milliseconds (``domain.intervals``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Label,
    Select,
    Text,
    case,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects import postgresql

from inkbridge.domain.intervals import INTERVALS
from inkbridge.store.schema import NONE_LABEL as NONE_LABEL
from inkbridge.store.schema import REPORT_KEYS, envelopes, labelled, leads


@dataclass(frozen=True)
class ReportFilter:
    """Which leads a report looks at: the cohort created in ``[since, until)``, optionally only
    those whose first-touch campaign is ``campaign`` (and channel, the first touch's medium, is
    ``channel``), and only envelopes of ``template``."""

    since: datetime | None = None
    until: datetime | None = None
    campaign: str | None = None
    template: str | None = None
    channel: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "campaign": self.campaign,
            "template": self.template,
            **({"channel": self.channel} if self.channel is not None else {}),
        }

    def lead_conditions(self) -> list[ColumnElement[bool]]:
        return self._dated(leads.c.created_at)

    def envelope_cohort_conditions(self) -> list[ColumnElement[bool]]:
        """The cohort without a join: on the envelope's copy of its lead's creation moment. An
        envelope without a lead belongs to no dated cohort, as through the join."""
        return self._dated(envelopes.c.lead_created_at)

    def _dated(self, created_at: ColumnElement[datetime]) -> list[ColumnElement[bool]]:
        """``since <= created_at < until``, each bound only when given."""
        conditions: list[ColumnElement[bool]] = []
        if self.since is not None:
            conditions.append(created_at >= self.since)
        if self.until is not None:
            conditions.append(created_at < self.until)
        return conditions

    def envelope_conditions(self) -> list[ColumnElement[bool]]:
        # utm_campaign on the envelope is the lead's frozen first-touch campaign, copied when
        # the envelope was created, so it selects the same leads as the JSON would.
        conditions: list[ColumnElement[bool]] = []
        if self.campaign is not None:
            conditions.append(envelopes.c.utm_campaign == self.campaign)
        if self.channel is not None:
            conditions.append(envelopes.c.utm_medium == self.channel)
        if self.template is not None:
            conditions.append(envelopes.c.template_key == self.template)
        return conditions

    @property
    def needs_leads(self) -> bool:
        return self.since is not None or self.until is not None


# --- funnel ---------------------------------------------------------------------------------

FUNNEL_STAGES = ("captured", "qualified", "sent", "viewed", "signed", "completed")
FUNNEL_EXITS = ("declined", "expired")


def _envelope_stage() -> ColumnElement[int]:
    """How far one envelope got: 1 sent … 4 completed. Reaching a milestone implies the ones
    before it (a lost ``sent`` webhook must not make a completed envelope vanish from "sent"),
    and an envelope can only be declined or expire once it was sent."""
    e = envelopes.c
    return case(
        (e.completed_at.is_not(None), 4),
        (e.first_signed_at.is_not(None), 3),
        (e.first_viewed_at.is_not(None), 2),
        (
            or_(e.sent_at.is_not(None), e.declined_at.is_not(None), e.expired_at.is_not(None)),
            1,
        ),
        else_=0,
    )


def funnel_lead_counts(report_filter: ReportFilter) -> Select[Any]:
    """(captured, qualified) leads of the cohort. Qualified: ``qualified_at`` set, or the lead
    has any envelope (a template filter does not narrow what qualified means)."""
    has_envelope = exists().where(envelopes.c.lead_id == leads.c.id)
    qualified = case((leads.c.qualified_at.is_not(None), 1), (has_envelope, 1), else_=0)
    conditions = report_filter.lead_conditions()
    if report_filter.campaign is not None:
        conditions.append(leads.c.first_touch["utm_campaign"].as_string() == report_filter.campaign)
    if report_filter.channel is not None:
        conditions.append(leads.c.first_touch["utm_medium"].as_string() == report_filter.channel)
    return select(func.count(), func.coalesce(func.sum(qualified), 0)).where(*conditions)


def funnel_stage_counts(report_filter: ReportFilter) -> Select[Any]:
    """Leads of the cohort whose furthest envelope reached sent, viewed, signed, completed, and
    leads with any declined or expired envelope: one row of six counts."""
    e = envelopes.c
    per_lead = select(
        e.lead_id,
        func.max(_envelope_stage()).label("stage"),
        func.max(case((e.declined_at.is_not(None), 1), else_=0)).label("declined"),
        func.max(case((e.expired_at.is_not(None), 1), else_=0)).label("expired"),
    ).where(e.lead_id.is_not(None), *report_filter.envelope_conditions())
    if report_filter.needs_leads:
        per_lead = per_lead.join(leads, leads.c.id == e.lead_id).where(
            *report_filter.lead_conditions()
        )
    inner = per_lead.group_by(e.lead_id).subquery("per_lead")

    def reached(stage: int) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((inner.c.stage >= stage, 1), else_=0)), 0)

    return select(
        reached(1),
        reached(2),
        reached(3),
        reached(4),
        func.coalesce(func.sum(inner.c.declined), 0),
        func.coalesce(func.sum(inner.c.expired), 0),
    )


# --- time to sign ---------------------------------------------------------------------------


class GroupBy(StrEnum):
    NONE = "none"
    CAMPAIGN = "campaign"
    CHANNEL = "channel"
    TEMPLATE = "template"
    TEMPLATE_VERSION = "template_version"


def group_columns(group_by: GroupBy) -> list[Label[Any]]:
    """The report's group keys, as PostgreSQL's time-to-sign indexes of migration 0019 hold
    them (``schema.labelled``), so that grouping reads those indexes in order."""
    e = envelopes.c
    if group_by is GroupBy.CAMPAIGN:
        return [labelled(e.utm_campaign).label("campaign")]
    if group_by is GroupBy.CHANNEL:
        return [labelled(e.utm_medium).label("channel")]
    if group_by is GroupBy.TEMPLATE:
        return [labelled(e.template_key).label("template")]
    if group_by is GroupBy.TEMPLATE_VERSION:
        return [
            labelled(e.template_key).label("template"),
            e.template_version.label("template_version"),
        ]
    return []


def _interval_columns() -> list[Label[int]]:
    """The five intervals in whole milliseconds, labelled by name; NULL wherever either moment
    is missing."""
    return [envelopes.c[f"{name}_ms"].label(name) for name in INTERVALS]


# The columns every time-to-sign grouping is made of, in the order of the leading columns of
# ``ix_envelopes_time_to_sign`` (migration 0018), which also holds the cohort and the five
# intervals: grouped by all four, SQLite reads that index in order and needs no sort.
TIME_TO_SIGN_KEYS = REPORT_KEYS


def _interval_base(
    report_filter: ReportFilter, columns: Sequence[ColumnElement[Any]]
) -> Select[Any]:
    # No condition on the milestones: an envelope neither sent nor viewed has no interval (every
    # one starts at sent or first view), so it adds nothing, and the index covers the rest.
    return select(*columns).where(
        *report_filter.envelope_conditions(), *report_filter.envelope_cohort_conditions()
    )


def interval_value_lists(report_filter: ReportFilter, dialect: str) -> Select[Any]:
    """One row per combination of ``TIME_TO_SIGN_KEYS`` (raw, NULLs included): those four
    columns, then each interval's values in milliseconds as one comma-separated text (NULLs
    skipped; NULL when there is none). A report groups these rows as it is asked to.

    Shipping a few long strings instead of a million rows is what makes exact percentiles
    affordable without the server's help: splitting and parsing numbers runs in C, where
    building a row object per envelope does not."""
    keys = [envelopes.c[name] for name in TIME_TO_SIGN_KEYS]
    lists = [
        (
            func.group_concat(envelopes.c[f"{name}_ms"])
            if dialect == "sqlite"
            else func.string_agg(cast(envelopes.c[f"{name}_ms"], Text), ",")
        ).label(name)
        for name in INTERVALS
    ]
    return _interval_base(report_filter, [*keys, *lists]).group_by(*keys)


def grouped_key(group_by: GroupBy, row: Sequence[Any]) -> tuple[Any, ...]:
    """The report's group key of a row of ``interval_value_lists`` (its ``TIME_TO_SIGN_KEYS``),
    labelled as ``group_columns`` labels it."""
    campaign, medium, template, version = row[: len(TIME_TO_SIGN_KEYS)]
    if group_by is GroupBy.CAMPAIGN:
        return (NONE_LABEL if campaign is None else campaign,)
    if group_by is GroupBy.CHANNEL:
        return (NONE_LABEL if medium is None else medium,)
    if group_by is GroupBy.TEMPLATE:
        return (NONE_LABEL if template is None else template,)
    if group_by is GroupBy.TEMPLATE_VERSION:
        return (NONE_LABEL if template is None else template, version)
    return ()


def interval_percentiles(
    report_filter: ReportFilter,
    group_by: GroupBy,
    fractions: Sequence[float],
    *,
    with_total: bool = True,
) -> Select[Any]:
    """PostgreSQL only: per group and overall (``total`` = 1), count and ``percentile_cont``
    of each interval in milliseconds, sorted and interpolated by the server. Without
    ``with_total``, the groups only (``total`` = 0)."""
    groups = group_columns(group_by)
    intervals = _interval_columns()
    inner = _interval_base(report_filter, [*groups, *intervals]).subquery("intervals")
    keys = [inner.c[g.name] for g in groups]
    aggregates: list[ColumnElement[Any]] = []
    for name in INTERVALS:
        value = inner.c[name]
        aggregates.append(func.count(value).label(f"{name}_count"))
        aggregates.append(
            func.percentile_cont(postgresql.array([literal(f) for f in fractions]))
            .within_group(value)
            .label(f"{name}_percentiles")
        )
    if not keys:
        return select(literal(1).label("total"), *aggregates).select_from(inner)
    if not with_total:
        return select(literal(0).label("total"), *keys, *aggregates).group_by(*keys)
    total = func.grouping(*keys).label("total")
    grouping_sets = func.grouping_sets(tuple_(*keys), text("()"))
    return select(total, *keys, *aggregates).group_by(grouping_sets)
