"""The envelope lifecycle state machine: states, ranks and the one function that applies events.

Events are applied by rank, never by arrival order. A lower-ranked event after a higher one only
records its milestone (earliest provider time wins). Terminal states are final; a second, different
terminal event is recorded as a conflict and leaves the legal state alone. Each accepted change
yields exactly one domain event; duplicates and stale events yield none.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from inkbridge.domain.events import DomainEvent, EventType, NormalizedEvent


class EnvelopeState(StrEnum):
    """Where an envelope stands."""

    CREATED = "created"
    SENT = "sent"
    DELIVERED = "delivered"
    VIEWED = "viewed"
    PARTIALLY_SIGNED = "partially_signed"
    COMPLETED = "completed"
    DECLINED = "declined"
    VOIDED = "voided"
    EXPIRED = "expired"


class RecipientState(StrEnum):
    """Where one recipient stands."""

    SENT = "sent"
    VIEWED = "viewed"
    SIGNED = "signed"
    DECLINED = "declined"


TERMINAL: frozenset[EnvelopeState] = frozenset(
    {EnvelopeState.COMPLETED, EnvelopeState.DECLINED, EnvelopeState.VOIDED, EnvelopeState.EXPIRED}
)

RANK: dict[EnvelopeState, int] = {
    EnvelopeState.CREATED: 0,
    EnvelopeState.SENT: 1,
    EnvelopeState.DELIVERED: 2,
    EnvelopeState.VIEWED: 3,
    EnvelopeState.PARTIALLY_SIGNED: 4,
    EnvelopeState.COMPLETED: 9,
    EnvelopeState.DECLINED: 9,
    EnvelopeState.VOIDED: 9,
    EnvelopeState.EXPIRED: 9,
}

# The state each event type asks for; None means the event only records a milestone or a flag.
TARGET: dict[EventType, EnvelopeState | None] = {
    EventType.DOCUMENT_SENT: EnvelopeState.SENT,
    EventType.DOCUMENT_VIEWED: EnvelopeState.VIEWED,
    EventType.RECIPIENT_SIGNED: EnvelopeState.PARTIALLY_SIGNED,
    EventType.DOCUMENT_COMPLETED: EnvelopeState.COMPLETED,
    EventType.DOCUMENT_DECLINED: EnvelopeState.DECLINED,
    EventType.DOCUMENT_VOIDED: EnvelopeState.VOIDED,
    EventType.DOCUMENT_EXPIRED: EnvelopeState.EXPIRED,
    EventType.DOCUMENT_DELIVERY_FAILED: None,
    EventType.REMINDER_SENT: None,
}

# Which milestone each event type stamps (earliest provider time wins).
MILESTONE: dict[EventType, str] = {
    EventType.DOCUMENT_SENT: "sent_at",
    EventType.DOCUMENT_VIEWED: "first_viewed_at",
    EventType.RECIPIENT_SIGNED: "first_signed_at",
    EventType.DOCUMENT_COMPLETED: "completed_at",
    EventType.DOCUMENT_DECLINED: "declined_at",
    EventType.DOCUMENT_VOIDED: "voided_at",
    EventType.DOCUMENT_EXPIRED: "expired_at",
    EventType.DOCUMENT_DELIVERY_FAILED: "delivery_failed_at",
    EventType.REMINDER_SENT: "first_reminder_at",
}

MILESTONES: tuple[str, ...] = tuple(dict.fromkeys(MILESTONE.values()))

RECIPIENT_RANK: dict[RecipientState, int] = {
    RecipientState.SENT: 1,
    RecipientState.VIEWED: 2,
    RecipientState.SIGNED: 3,
    RecipientState.DECLINED: 3,
}

RECIPIENT_TARGET: dict[EventType, RecipientState] = {
    EventType.DOCUMENT_SENT: RecipientState.SENT,
    EventType.DOCUMENT_VIEWED: RecipientState.VIEWED,
    EventType.RECIPIENT_SIGNED: RecipientState.SIGNED,
    EventType.DOCUMENT_DECLINED: RecipientState.DECLINED,
}


class Outcome(StrEnum):
    """How an event landed on an envelope; recorded in the event log."""

    ACCEPTED = "accepted"  # the state moved
    MILESTONE = "milestone"  # no state move, but a milestone, flag or recipient changed
    STALE = "stale"  # nothing changed: a duplicate or an out-of-date event
    CONFLICT = "conflict"  # a different terminal event after a terminal state


@dataclass(frozen=True)
class EnvelopeSnapshot:
    """The part of an envelope the state machine reads and writes."""

    envelope_id: str
    state: EnvelopeState = EnvelopeState.CREATED
    milestones: dict[str, datetime] = field(default_factory=dict)
    recipients: dict[str, RecipientState] = field(default_factory=dict)
    delivery_failed: bool = False
    conflicts: frozenset[EnvelopeState] = frozenset()

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL


@dataclass(frozen=True)
class Applied:
    """The result of applying one event: the new snapshot and what it caused."""

    snapshot: EnvelopeSnapshot
    outcome: Outcome
    events: tuple[DomainEvent, ...]
    previous_state: EnvelopeState


def envelope_fact_key(envelope_id: str, fact: str) -> str:
    """The key of one fact about an envelope (``envelope:<id>:state:completed``)."""
    return f"envelope:{envelope_id}:{fact}"


def state_fact_key(envelope_id: str, state: EnvelopeState) -> str:
    return envelope_fact_key(envelope_id, f"state:{state.value}")


def envelope_fact(
    envelope_id: str, kind: str, fact: str, occurred_at: datetime, data: dict[str, Any]
) -> DomainEvent:
    """A domain event about one envelope, keyed by ``fact`` under it: emitted once per fact."""
    return DomainEvent(kind, envelope_id, envelope_fact_key(envelope_id, fact), occurred_at, data)


def apply_event(snapshot: EnvelopeSnapshot, event: NormalizedEvent) -> Applied:
    """Apply one normalized event and return the new snapshot plus the domain events it caused.

    The function is pure and idempotent: applying the same event twice changes nothing the
    second time, and the final snapshot does not depend on the order events arrive in.
    """
    env_id = snapshot.envelope_id
    domain_events: list[DomainEvent] = []
    milestones = dict(snapshot.milestones)
    recipients = dict(snapshot.recipients)
    delivery_failed = snapshot.delivery_failed
    conflicts = snapshot.conflicts
    state = snapshot.state
    side_change = False

    name = MILESTONE[event.type]
    earlier = milestones.get(name)
    if earlier is None or event.occurred_at < earlier:
        milestones[name] = event.occurred_at
        side_change = True

    if event.recipient_id is not None and event.type in RECIPIENT_TARGET:
        wanted = RECIPIENT_TARGET[event.type]
        current = recipients.get(event.recipient_id)
        if current is None or RECIPIENT_RANK[wanted] > RECIPIENT_RANK[current]:
            recipients[event.recipient_id] = wanted
            side_change = True
            domain_events.append(
                envelope_fact(
                    env_id,
                    "recipient.status_changed",
                    f"recipient:{event.recipient_id}:{wanted.value}",
                    event.occurred_at,
                    {"recipient_id": event.recipient_id, "status": wanted.value},
                )
            )

    if event.type is EventType.DOCUMENT_DELIVERY_FAILED and not delivery_failed:
        delivery_failed = True
        domain_events.append(
            envelope_fact(
                env_id,
                "envelope.delivery_failed",
                "delivery_failed",
                event.occurred_at,
                {"recipient_id": event.recipient_id},
            )
        )

    outcome = Outcome.MILESTONE if side_change else Outcome.STALE
    target = TARGET[event.type]
    if target is not None:
        if state in TERMINAL:
            if target in TERMINAL and target != state:
                outcome = Outcome.CONFLICT
                if target not in conflicts:
                    conflicts = conflicts | {target}
                    domain_events.append(
                        envelope_fact(
                            env_id,
                            "envelope.conflict_detected",
                            f"conflict:{target.value}",
                            event.occurred_at,
                            {"state": state.value, "claimed": target.value},
                        )
                    )
        elif target in TERMINAL or RANK[target] > RANK[state]:
            domain_events.insert(
                0,
                envelope_fact(
                    env_id,
                    "envelope.state_changed",
                    f"state:{target.value}",
                    event.occurred_at,
                    {"from": state.value, "to": target.value},
                ),
            )
            state = target
            outcome = Outcome.ACCEPTED

    new = replace(
        snapshot,
        state=state,
        milestones=milestones,
        recipients=recipients,
        delivery_failed=delivery_failed,
        conflicts=conflicts,
    )
    return Applied(
        snapshot=new,
        outcome=outcome,
        events=tuple(domain_events),
        previous_state=snapshot.state,
    )


def replay(envelope_id: str, events: list[NormalizedEvent]) -> EnvelopeSnapshot:
    """Rebuild a snapshot from an event history (the event log is the source of truth)."""
    snapshot = EnvelopeSnapshot(envelope_id=envelope_id)
    for event in events:
        snapshot = apply_event(snapshot, event).snapshot
    return snapshot


def resolve_terminal(
    snapshot: EnvelopeSnapshot, state: EnvelopeState, occurred_at: datetime
) -> Applied:
    """The provider's own status is the canonical record of a legal outcome.

    Reconciliation calls this with the provider's terminal state. It overrides a different
    terminal state inkbridge holds (which a conflicting webhook may have set first), and clears
    recorded conflicts. Each change emits its domain event once; agreeing again emits nothing.
    """
    env_id = snapshot.envelope_id
    events: list[DomainEvent] = []
    current = snapshot.state
    if current != state and (current in TERMINAL or RANK[state] > RANK[current]):
        events.append(
            envelope_fact(
                env_id,
                "envelope.state_changed",
                f"state:{state.value}",
                occurred_at,
                {"from": current.value, "to": state.value, "authoritative": True},
            )
        )
        current = state
    if snapshot.conflicts:
        events.append(
            envelope_fact(
                env_id,
                "envelope.conflict_resolved",
                f"conflict_resolved:{state.value}",
                occurred_at,
                {"state": state.value, "claims": sorted(c.value for c in snapshot.conflicts)},
            )
        )
    if not events:
        return Applied(snapshot, Outcome.STALE, (), snapshot.state)
    milestones = dict(snapshot.milestones)
    for event_type, target in TARGET.items():
        if target is state:
            name = MILESTONE[event_type]
            if name not in milestones or occurred_at < milestones[name]:
                milestones[name] = occurred_at
    new = replace(snapshot, state=current, conflicts=frozenset(), milestones=milestones)
    outcome = Outcome.ACCEPTED if new.state != snapshot.state else Outcome.MILESTONE
    return Applied(new, outcome, tuple(events), snapshot.state)


def terminal_state_of(event_type: EventType) -> EnvelopeState | None:
    target = TARGET[event_type]
    return target if target in TERMINAL else None
