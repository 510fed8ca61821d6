"""Exact percentiles of the time-to-sign report, computed in Python where the database has no
``percentile_cont`` (SQLite) or where regions are merged.

Percentiles interpolate linearly between the two closest ranks: for ascending values
``v[0..n-1]`` the p-th is ``v[h]`` with ``h = (n - 1) * p`` read between its neighbours, the
definition of PostgreSQL's ``percentile_cont`` (and numpy's default).

The percentiles of several groups together come from the groups' sorted values as they are,
without merging them into one sorted list: each rank needed is found by bisecting the range of
values, counting how many are at most the midpoint (one ``bisect`` per group). That is exact
for whole numbers, which the intervals are (milliseconds), and costs microseconds where
merging a million values costs a good part of a second.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from itertools import repeat


def percentile(ordered: Sequence[float], fraction: float) -> float | None:
    """The ``fraction`` percentile of ascending ``ordered`` values, linearly interpolated."""
    if not ordered:
        return None
    rank = (len(ordered) - 1) * fraction
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (rank - low) * (ordered[high] - ordered[low])


def nth_of_runs(runs: Sequence[Sequence[float]], n: int) -> float:
    """The ``n``-th smallest (from 0) of the values of ascending, non-empty ``runs`` taken
    together; the values must be whole numbers."""
    low = min(run[0] for run in runs)
    high = max(run[-1] for run in runs)
    while low < high:  # the answer is in [low, high]
        middle = (low + high) // 2
        if sum(map(bisect_right, runs, repeat(middle))) > n:
            high = middle
        else:
            low = middle + 1
    return low


def _next_of_runs(runs: Sequence[Sequence[float]], n: int, at_n: float) -> float:
    """The ``n + 1``-th smallest of ``runs`` taken together, given the ``n``-th (``at_n``):
    ``at_n`` again if more than ``n + 1`` values are at most it, else the least value above it
    (one bisection per run instead of a search over the range of values)."""
    ends = list(map(bisect_right, runs, repeat(at_n)))
    if sum(ends) > n + 1:
        return at_n
    return min(run[end] for run, end in zip(runs, ends, strict=True) if end < len(run))


def percentile_of_runs(runs: Sequence[Sequence[float]], fraction: float) -> float | None:
    """``percentile`` of the values of ascending ``runs`` of whole numbers taken together: the
    same value as merging them, sorting and calling ``percentile``."""
    runs = [run for run in runs if run]
    if len(runs) <= 1:
        return percentile(runs[0] if runs else (), fraction)
    count = sum(len(run) for run in runs)
    rank = (count - 1) * fraction
    low = math.floor(rank)
    high = min(low + 1, count - 1)
    at_low = nth_of_runs(runs, low)
    at_high = at_low if high == low else _next_of_runs(runs, low, at_low)
    return at_low + (rank - low) * (at_high - at_low)
