"""The decision one normalized event makes about an envelope: the lifecycle applies it, and a
provider's own status report (authoritative) also settles a terminal state. One function, no
I/O; the worker persists what it returns and hands the domain events to their handlers."""

from __future__ import annotations

from inkbridge.domain.events import NormalizedEvent
from inkbridge.domain.lifecycle import (
    Applied,
    EnvelopeSnapshot,
    Outcome,
    apply_event,
    resolve_terminal,
    terminal_state_of,
)

CONFLICT_DETECTED = "envelope.conflict_detected"


def decide(snapshot: EnvelopeSnapshot, event: NormalizedEvent, *, authoritative: bool) -> Applied:
    """Apply one event; when the event comes from the provider's API (authoritative) and names a
    terminal state, that state wins over whatever webhooks claimed before."""
    applied = apply_event(snapshot, event)
    terminal = terminal_state_of(event.type)
    if not authoritative or terminal is None:
        return applied
    settled = resolve_terminal(applied.snapshot, terminal, event.occurred_at)
    kept = tuple(e for e in applied.events if e.kind != CONFLICT_DETECTED)
    events = kept + settled.events if settled.events else applied.events
    moved = settled.snapshot.state != snapshot.state
    outcome = (
        Outcome.ACCEPTED if moved else (settled.outcome if settled.events else applied.outcome)
    )
    return Applied(settled.snapshot, outcome, events, snapshot.state)


def awaits_confirmation(
    snapshot: EnvelopeSnapshot, event: NormalizedEvent, *, confirm_terminal: bool
) -> bool:
    """Whether a terminal claim must wait for the provider's API: the vendor's signature does not
    cover the body (``confirm_terminal``), and the envelope is not settled yet."""
    return (
        confirm_terminal and terminal_state_of(event.type) is not None and not snapshot.is_terminal
    )
