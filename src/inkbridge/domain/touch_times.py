"""When a touch happened, by the server's clock. A time the client sends is a hint: kept when
it lies within the allowed skew of the server's receive time, replaced by the receive time
otherwise, and never earlier than the server first saw the visitor's anonymous id. So a forged
date (1970, or next year) can never become a lead's frozen first touch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def public_touch_time(
    hint: datetime | None,
    received_at: datetime,
    skew: timedelta,
    first_seen_at: datetime | None = None,
) -> datetime:
    """The time of an anonymous visitor's touch: the client's ``hint`` if it is within ``skew``
    of ``received_at``, else ``received_at``; never before ``first_seen_at``."""
    moment = received_at
    if hint is not None and abs(_aware(hint) - received_at) <= skew:
        moment = _aware(hint)
    if first_seen_at is not None and moment < first_seen_at:
        return first_seen_at
    return moment


def submitted_touch_time(
    claimed: datetime,
    received_at: datetime,
    skew: timedelta,
    first_seen_at: datetime | None = None,
) -> datetime:
    """The time of a touch an authenticated integrator submits with a lead: its own history may
    be older than the request, but not in the future beyond ``skew`` (then the receive time),
    and not before the server first saw the lead's anonymous id."""
    moment = _aware(claimed)
    if moment > received_at + skew:
        moment = received_at
    if first_seen_at is not None and moment < first_seen_at:
        return first_seen_at
    return moment
