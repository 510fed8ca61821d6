"""What the reports must say about the generated data set (see ``dataset``): funnel counts,
time-to-sign totals and percentiles, and attribution credit per channel under each model,
computed by hand."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from inkbridge.domain.attribution_models import Model


def _funnel_counts(report: dict[str, Any]) -> dict[str, int]:
    return {row["stage"]: row["count"] for row in report["rows"]}


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
