"""Attribution facts: touchpoints and the first-touch record frozen when a lead is created."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
CLICK_IDS = ("gclid", "fbclid", "msclkid", "li_fat_id", "ttclid", "wbraid", "gbraid")


@dataclass(frozen=True)
class Touchpoint:
    """One visit or interaction as captured: append-only."""

    occurred_at: datetime
    utm_source: str | None = None
    utm_medium: str | None = None
    utm_campaign: str | None = None
    utm_term: str | None = None
    utm_content: str | None = None
    click_ids: dict[str, str] = field(default_factory=dict)
    referrer: str | None = None
    landing_page: str | None = None

    def as_first_touch(self) -> dict[str, Any]:
        data = asdict(self)
        data["occurred_at"] = self.occurred_at.isoformat()
        return data


def first_touch(touchpoints: list[Touchpoint]) -> dict[str, Any]:
    """The earliest touchpoint, as the frozen first-touch record (empty when there is none)."""
    if not touchpoints:
        return {}
    return min(touchpoints, key=lambda t: t.occurred_at).as_first_touch()


def attribution_metadata(first: dict[str, Any]) -> dict[str, str]:
    """The attribution identifiers copied into envelope metadata and every outbound record."""
    out = {k: str(first[k]) for k in UTM_FIELDS if first.get(k)}
    for name, value in (first.get("click_ids") or {}).items():
        out[name] = str(value)
    return out
