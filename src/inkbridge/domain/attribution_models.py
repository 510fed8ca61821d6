"""Attribution models: how one conversion's credit is shared among the touches that led to it.

Owns the rules, not the data: which touches belong to a lead (``stitch``), how the journey of a
conversion is assembled around the frozen first touch (``journey``), and the credit each model
gives each touch (``credit``). No I/O; the reports apply the same rules in SQL and the
integration tests check the two agree.

Rules, in one place:

- **Channel** of a touch is its ``utm_medium``; without one it is ``referral`` when a referrer is
  known and ``direct`` otherwise.
- **Stitching**: a touchpoint belongs to a lead when it was recorded against the lead, or when it
  is unlinked, carries the lead's anonymous id and occurred no later than ``window`` after the
  lead was created (earlier visits of the same browser always count). A touchpoint recorded
  against another lead stays with that lead.
- **Journey**: the frozen first touch (a synthetic ``direct`` touch at lead creation when the
  lead was captured without any) followed by the stitched touches strictly after it and no later
  than the conversion. Touches at or before the frozen first touch fold into it: first touch is
  frozen at creation and never overwritten.
- **W-shaped anchors**: first touch; lead-created touch = the last touch at or before the lead
  was created (the first touch when none is); envelope-sent touch = the last touch at or before
  the envelope was sent (the lead-created touch when the sent moment is unknown). Anchors that
  fall on the same touch **add up** (first touch also being the lead-created touch gets 60 %).
- **Middle share with no middle**: when position-based or W-shaped has no touch outside its
  anchors, the middle share is redistributed over the anchors in proportion to their shares, so
  U-shaped with two touches is 50/50 and W-shaped with two touches is 2/3 and 1/3.
- **Time decay** weighs a touch ``2^(-Δt/half_life)`` with Δt measured back from the conversion.
  Normalising makes that equal to measuring back from the latest touch, which is what is
  computed, so journeys years long never underflow to all-zero weights.

Credits are exact: each is a multiple of 2^-40 and one conversion's credits add up to exactly
``1.0`` in any summation order (every partial sum is representable), at most 2^-40 away from the
real-valued share.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Model(StrEnum):
    FIRST_TOUCH = "first_touch"
    LAST_TOUCH = "last_touch"
    LINEAR = "linear"
    TIME_DECAY = "time_decay"
    POSITION_BASED = "position_based"
    W_SHAPED = "w_shaped"


DEFAULT_HALF_LIFE_DAYS = 7.0
DEFAULT_STITCH_WINDOW = timedelta(days=30)
DIRECT = "direct"
REFERRAL = "referral"

# Position-based (U): first and last touch, the rest spread over the middle.
U_ENDS = 0.4
U_MIDDLE = 0.2
# W-shaped: each of the three anchors, the rest spread over the other touches.
W_ANCHOR = 0.3
W_MIDDLE = 0.1

_QUANTUM_BITS = 40
_QUANTUM = 1 << _QUANTUM_BITS


def channel_of(utm_medium: str | None, referrer: str | None) -> str:
    """The channel of a touch: its medium, else ``referral`` or ``direct``."""
    if utm_medium:
        return utm_medium
    return REFERRAL if referrer else DIRECT


@dataclass(frozen=True)
class Touch:
    """One touch of a journey, reduced to what attribution needs."""

    occurred_at: datetime
    channel: str = DIRECT
    source: str | None = None
    campaign: str | None = None


@dataclass(frozen=True)
class ObservedTouch:
    """A touchpoint as stored, before it is known whose journey it is part of."""

    touch: Touch
    anonymous_id: str | None = None
    lead_id: str | None = None


@dataclass(frozen=True)
class Conversion:
    """A signed envelope and the ordered touches of its lead's journey (never empty)."""

    touches: tuple[Touch, ...]
    converted_at: datetime
    lead_created_at: datetime | None = None
    envelope_sent_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.touches:
            raise ValueError("a conversion needs at least one touch")


def stitch(
    touchpoints: Iterable[ObservedTouch],
    anonymous_id: str | None,
    lead_created_at: datetime,
    window: timedelta = DEFAULT_STITCH_WINDOW,
    *,
    lead_id: str | None = None,
) -> list[Touch]:
    """The touches that belong to a lead, oldest first (ties keep their given order)."""
    horizon = lead_created_at + window
    belonging = [
        observed.touch
        for observed in touchpoints
        if (lead_id is not None and observed.lead_id == lead_id)
        or (
            observed.lead_id is None
            and anonymous_id is not None
            and observed.anonymous_id == anonymous_id
            and observed.touch.occurred_at <= horizon
        )
    ]
    return sorted(belonging, key=lambda t: t.occurred_at)


def journey(
    first_touch: Touch | None,
    stitched: Sequence[Touch],
    lead_created_at: datetime,
    converted_at: datetime,
) -> tuple[Touch, ...]:
    """The frozen first touch, then the stitched touches after it up to the conversion."""
    first = first_touch or Touch(occurred_at=lead_created_at, channel=DIRECT)
    later = [t for t in stitched if first.occurred_at < t.occurred_at <= converted_at]
    return (first, *sorted(later, key=lambda t: t.occurred_at))


def credit(
    model: Model,
    conversion: Conversion,
    *,
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS,
) -> tuple[float, ...]:
    """Each touch's share of the conversion under ``model``; the shares add up to exactly 1.0."""
    return exact_shares(_weights(model, conversion, half_life_days))


def _weights(model: Model, conversion: Conversion, half_life_days: float) -> list[float]:
    n = len(conversion.touches)
    if model is Model.FIRST_TOUCH:
        return [1.0] + [0.0] * (n - 1)
    if model is Model.LAST_TOUCH:
        return [0.0] * (n - 1) + [1.0]
    if model is Model.LINEAR:
        return [1.0] * n
    if model is Model.TIME_DECAY:
        return _time_decay(conversion.touches, half_life_days)
    if model is Model.POSITION_BASED:
        return _with_middle({0: U_ENDS, n - 1: U_ENDS}, n, U_MIDDLE)
    if model is Model.W_SHAPED:
        first, created, sent = w_anchors(conversion)
        anchors: dict[int, float] = {}
        for index in (first, created, sent):
            anchors[index] = anchors.get(index, 0.0) + W_ANCHOR
        return _with_middle(anchors, n, W_MIDDLE)
    raise ValueError(f"unknown attribution model {model!r}")


def _time_decay(touches: Sequence[Touch], half_life_days: float) -> list[float]:
    if half_life_days <= 0:
        raise ValueError("the half-life must be positive")
    latest = max(t.occurred_at for t in touches)
    half_life_seconds = half_life_days * 86_400.0
    return [2.0 ** (-(latest - t.occurred_at).total_seconds() / half_life_seconds) for t in touches]


def _with_middle(anchors: dict[int, float], n: int, middle_share: float) -> list[float]:
    """Anchor shares plus ``middle_share`` spread evenly over every other touch.

    Without other touches the middle share has nowhere to go; leaving it out and normalising
    later redistributes it over the anchors in proportion to their shares.
    """
    middle = n - len(anchors)
    return [anchors.get(i, middle_share / middle if middle else 0.0) for i in range(n)]


def w_anchors(conversion: Conversion) -> tuple[int, int, int]:
    """Indexes of the W-shaped anchors: first touch, lead-created touch, envelope-sent touch."""
    touches = conversion.touches
    created = _last_at_or_before(touches, conversion.lead_created_at, default=0)
    if conversion.envelope_sent_at is None:
        return 0, created, created
    return 0, created, _last_at_or_before(touches, conversion.envelope_sent_at, default=0)


def _last_at_or_before(touches: Sequence[Touch], moment: datetime | None, default: int) -> int:
    if moment is None:
        return default
    found = default
    for index, touch in enumerate(touches):
        if touch.occurred_at <= moment:
            found = index
    return found


def exact_shares(weights: Sequence[float]) -> tuple[float, ...]:
    """Normalise ``weights`` to multiples of 2^-40 that add up to exactly 1.0.

    Largest-remainder rounding: each share is floored to the quantum and the units left over
    go to the shares that lost the most, earliest first on ties.
    """
    total = math.fsum(weights)
    if not total > 0 or any(w < 0 for w in weights):
        raise ValueError("weights must be non-negative with a positive sum")
    scaled = [w / total * _QUANTUM for w in weights]
    units = [math.floor(s) for s in scaled]
    # 0 <= left <= n: flooring loses less than one unit per share, and the scaled shares
    # add up to 2^40 within far less than one unit of float error.
    left = _QUANTUM - sum(units)
    by_loss = sorted(range(len(units)), key=lambda i: (units[i] - scaled[i], i))
    for i in by_loss[:left]:
        units[i] += 1
    return tuple(u / _QUANTUM for u in units)
