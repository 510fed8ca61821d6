"""What the marketing destinations (Marketo, Mautic) share: the change kinds they take, a change
on its way (``PendingWrite``), sending at most one change per lead at a time
(``apply_in_rounds``), reading ``options.journeys``, whether a journey may be entered, and what a
consent change says about marketing email."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from inkbridge.connectors import kinds
from inkbridge.connectors.base import BatchResult, Change, ChangeResult
from inkbridge.connectors.outbound import OutboundRecord, as_mapping
from inkbridge.errors import ConfigError, PermanentError, RetryableError

SUPPORTED = frozenset(
    {
        kinds.ENVELOPE_STATE,
        kinds.LEAD_UPDATED,
        kinds.CONTACT_CONSENT,
        kinds.JOURNEY_ENTER,
        kinds.MARKETING_SUPPRESS,
    }
)


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


@dataclass
class PendingWrite:
    """One change on its way to a marketing destination: the lead ``key`` it is sent in order
    by, the vendor fields to write, the first-touch fields (written only where the lead has
    none), the campaigns to add the lead to, and its result once it failed. Each connector
    adds what its vendor needs (lists or segments, do-not-contact, the vendor's lead id)."""

    change: Change
    key: str
    fields: dict[str, Any]
    first_touch: dict[str, str]
    campaign_ids: tuple[int, ...] = ()
    failed: ChangeResult | None = None

    def fail(self, error: str, retryable: bool = False) -> None:
        self.failed = ChangeResult(self.change.outbox_id, False, retryable, error)


PendingT = TypeVar("PendingT", bound=PendingWrite)
RoundStep = Callable[[Sequence[PendingT]], Awaitable[None]]


async def apply_in_rounds(
    changes: Sequence[Change],
    prepared: Sequence[PendingT],
    write: RoundStep[PendingT],
    follow_up: RoundStep[PendingT],
    requests: Callable[[], int],
) -> BatchResult:
    """Send the prepared changes in rounds (one change per lead per round, see
    ``rounds_by_key``): ``write`` the round's leads, then ``follow_up`` (memberships, campaigns,
    do-not-contact). A failure before anything was written is raised for the whole call; after
    that the changes not yet done get the failure as their result. ``requests`` reads how many
    vendor requests the call made."""
    results = {p.change.outbox_id: p.failed for p in prepared if p.failed is not None}
    sendable = [p for p in prepared if p.failed is None]
    rounds = rounds_by_key(sendable)
    retry_after: float | None = None
    wrote = False
    try:
        for batch in rounds:
            await write(batch)
            wrote = True
            await follow_up(batch)
            for item in batch:
                results[item.change.outbox_id] = item.failed or ChangeResult(
                    item.change.outbox_id, ok=True
                )
    except (RetryableError, PermanentError) as exc:
        if not wrote and not results:
            raise
        retryable = isinstance(exc, RetryableError)
        retry_after = exc.retry_after if isinstance(exc, RetryableError) else None
        for item in sendable:
            results.setdefault(
                item.change.outbox_id,
                item.failed or ChangeResult(item.change.outbox_id, False, retryable, exc.reason),
            )
    ordered = [results[change.outbox_id] for change in changes]
    meta = {"requests": requests(), "rounds": len(rounds)}
    return BatchResult(ordered, retry_after=retry_after, meta=meta)


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
