"""What the marketing destinations (Marketo, Mautic) share: sending at most one change per lead
at a time, reading ``options.journeys``, whether a journey may be entered, and what a consent
change says about marketing email."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar

from inkbridge.connectors.outbound import OutboundRecord, as_mapping
from inkbridge.errors import ConfigError


class Keyed(Protocol):
    key: str


KeyedT = TypeVar("KeyedT", bound=Keyed)


def rounds_by_key(pending: Sequence[KeyedT]) -> list[list[KeyedT]]:
    """Split changes into rounds holding at most one change per lead key, order kept.

    Marketo resolves every lookup in a request before writing, and upserts of one key that
    overlap can each create a lead: never send two changes of one lead together or at once.
    (The Mautic connector uses it too, for the same reason on its email merge.)
    """
    rounds: list[list[KeyedT]] = []
    seen: dict[str, int] = {}
    for item in pending:
        index = seen.get(item.key, 0)
        seen[item.key] = index + 1
        if index == len(rounds):
            rounds.append([])
        rounds[index].append(item)
    return rounds


def journey_ids(name: str, raw: Any, target_key: str) -> dict[str, tuple[int | None, int | None]]:
    """``options.journeys`` of a marketing destination: journey -> (``target_key`` id, campaign
    id), at least one of them, both integers. Shared by the Marketo and Mautic connectors."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"destination {name!r}: options.journeys must be a table")
    journeys: dict[str, tuple[int | None, int | None]] = {}
    for journey, target in raw.items():
        target = as_mapping(target)
        first, campaign_id = target.get(target_key), target.get("campaign_id")
        if not isinstance(first, int | None) or not isinstance(campaign_id, int | None):
            raise ConfigError(f"destination {name!r}: journey {journey!r} ids must be integers")
        if first is None and campaign_id is None:
            raise ConfigError(
                f"destination {name!r}: journey {journey!r} needs {target_key} or campaign_id"
            )
        journeys[str(journey)] = (first, campaign_id)
    return journeys


def journey_refusal(record: OutboundRecord, target: object | None, destination: str) -> str | None:
    """Why a ``journey.enter`` change is not sent (no marketing consent, or a journey this
    destination has no target for); None when it may be."""
    if not record.marketing_allowed:
        return "no marketing consent: journey not entered"
    if target is None:
        return f"journey {record.journey!r} is not configured for {destination}"
    return None


def ids(value: int | None) -> tuple[int, ...]:
    """A list, segment or campaign to add the lead to, if configured."""
    return () if value is None else (value,)


def marketing_email_status(record: OutboundRecord) -> str | None:
    """What a ``contact.consent`` change says of marketing email: ``granted``, ``withdrawn`` or
    ``denied``; None when it says nothing the destination acts on. Consent is written by consent
    changes only: other kinds carry a snapshot that may be older than the latest consent change.
    """
    status = record.lead_or_empty.consent.get("marketing_email")
    return status if status in {"granted", "withdrawn", "denied"} else None
