"""Residency policy: personal data stays in its region; transfers are refused, not discouraged."""

from __future__ import annotations

from collections.abc import Iterable


def may_send(record_region: str, destination_regions: Iterable[str]) -> bool:
    """A destination may receive a region's personal data only if it is declared for that region."""
    return record_region in set(destination_regions)
