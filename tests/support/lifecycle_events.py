"""Builders for the envelope lifecycle tests: provider events at minutes after a fixed time,
the domain events the state machine is expected to emit, and applying events in turn."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from inkbridge.domain.events import DomainEvent, EventType, NormalizedEvent
from inkbridge.domain.lifecycle import (
    Applied,
    EnvelopeSnapshot,
    EnvelopeState,
    RecipientState,
    apply_event,
)

ENV = "env-1"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

S = EnvelopeState
E = EventType
R = RecipientState


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def event(type_: EventType, minutes: int = 0, recipient: str | None = None) -> NormalizedEvent:
    return NormalizedEvent(
        type=type_,
        provider="fake",
        provider_envelope_id="prov-1",
        occurred_at=at(minutes),
        recipient_id=recipient,
    )


def _domain_event(kind: str, fact: str, minutes: int, data: dict[str, Any]) -> DomainEvent:
    """The domain event ``kind`` about the envelope ``ENV`` at ``minutes``, its fact key
    ``envelope:ENV:<fact>``."""
    return DomainEvent(
        kind=kind,
        envelope_id=ENV,
        fact_key=f"envelope:{ENV}:{fact}",
        occurred_at=at(minutes),
        data=data,
    )


def state_changed(
    from_: EnvelopeState, to: EnvelopeState, minutes: int, env: str = ENV
) -> DomainEvent:
    return DomainEvent(
        kind="envelope.state_changed",
        envelope_id=env,
        fact_key=f"envelope:{env}:state:{to.value}",
        occurred_at=at(minutes),
        data={"from": from_.value, "to": to.value},
    )


def conflict(state: EnvelopeState, claimed: EnvelopeState, minutes: int) -> DomainEvent:
    data = {"state": state.value, "claimed": claimed.value}
    return _domain_event("envelope.conflict_detected", f"conflict:{claimed.value}", minutes, data)


def delivery_failed(minutes: int, recipient: str | None = None) -> DomainEvent:
    data = {"recipient_id": recipient}
    return _domain_event("envelope.delivery_failed", "delivery_failed", minutes, data)


def recipient_changed(recipient: str, status: RecipientState, minutes: int) -> DomainEvent:
    fact = f"recipient:{recipient}:{status.value}"
    data = {"recipient_id": recipient, "status": status.value}
    return _domain_event("recipient.status_changed", fact, minutes, data)


def apply_all(snapshot: EnvelopeSnapshot, *events: NormalizedEvent) -> list[Applied]:
    results = []
    for ev in events:
        applied = apply_event(snapshot, ev)
        results.append(applied)
        snapshot = applied.snapshot
    return results


def apply_to_new(*events: NormalizedEvent) -> list[Applied]:
    """``apply_all`` to a new envelope: created, nothing seen yet."""
    return apply_all(EnvelopeSnapshot(envelope_id=ENV), *events)


CR, SE, DL, VW, PS = S.CREATED, S.SENT, S.DELIVERED, S.VIEWED, S.PARTIALLY_SIGNED
CO, DE, VO, EX = S.COMPLETED, S.DECLINED, S.VOIDED, S.EXPIRED
