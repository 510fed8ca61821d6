"""Percentiles read from several groups' sorted values without merging them equal those of
the merged values, on random whole numbers."""

from __future__ import annotations

import random

from inkbridge.services.percentiles import nth_of_runs, percentile, percentile_of_runs


def test_percentiles_of_sorted_runs_equal_those_of_the_merged_values() -> None:
    rng = random.Random(3)
    for _ in range(300):
        top = rng.choice([3, 10**10])  # many ties, or hardly any
        runs = [
            sorted(float(rng.randrange(-top, top)) for _ in range(rng.randrange(0, 30)))
            for _ in range(rng.randrange(1, 6))
        ]
        merged = sorted(v for run in runs for v in run)
        for fraction in (0.0, 0.1, 0.5, 0.9, 1.0):
            assert percentile_of_runs(runs, fraction) == percentile(merged, fraction)
    assert percentile_of_runs([[], []], 0.5) is None
    assert nth_of_runs([[1.0, 1.0, 7.0], [1.0, 3.0]], 3) == 3.0
