"""Residency policy: personal data stays in its region; transfers are refused, not discouraged.

A lead's region is chosen once, when it is captured, by the first rule that applies: the region
the capture names, the region of the publishable key of the site it came from, the region the
configured country map gives the visitor's country, and last the default region. Everything the
lead later causes (envelopes, receipts, outbox rows) stays in that region."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum


def may_send(record_region: str, destination_regions: Iterable[str]) -> bool:
    """A destination may receive a region's personal data only if it is declared for that region."""
    return record_region in set(destination_regions)


class RegionRule(StrEnum):
    """Which rule chose a lead's region (recorded in the capture's audit entry)."""

    EXPLICIT = "explicit"
    PUBLISHABLE_KEY = "publishable_key"
    COUNTRY = "country"
    DEFAULT = "default"


@dataclass(frozen=True)
class RegionChoice:
    region: str
    rule: RegionRule


def choose_region(
    *,
    explicit: str | None,
    key_region: str | None,
    country: str | None,
    countries: Mapping[str, str],
    default_region: str,
) -> RegionChoice:
    """The region of a new lead, by the first rule that applies. ``country`` is an alpha-2 code
    already read (``countries.country_code``); one the map does not name falls to the default."""
    if explicit:
        return RegionChoice(explicit, RegionRule.EXPLICIT)
    if key_region:
        return RegionChoice(key_region, RegionRule.PUBLISHABLE_KEY)
    if country and country in countries:
        return RegionChoice(countries[country], RegionRule.COUNTRY)
    return RegionChoice(default_region, RegionRule.DEFAULT)


class Refusal(StrEnum):
    """Why a receipt was refused for residency: what it names is held by another region."""

    LEAD = "lead_in_other_region"  # its metadata names a lead another region holds
    ENVELOPE = "envelope_in_other_region"  # its metadata names another region's envelope
    SIGNER = "signer_in_other_region"  # its signer's email is a lead of another region only
