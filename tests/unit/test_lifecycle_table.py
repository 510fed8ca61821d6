"""The envelope lifecycle state machine, every (state, event type) pair and every (recipient
status, event type) pair against tables written out by hand.

The expectations here are written out by hand from the design, not derived from the tables in
``inkbridge.domain.lifecycle``, so a change to those tables shows up as a failing test."""

from __future__ import annotations

import itertools

import pytest

from inkbridge.domain.events import DomainEvent, EventType
from inkbridge.domain.lifecycle import (
    MILESTONES,
    TERMINAL,
    EnvelopeSnapshot,
    EnvelopeState,
    Outcome,
    RecipientState,
    apply_event,
)
from tests.support.lifecycle_events import (
    CO,
    CR,
    DE,
    DL,
    ENV,
    EX,
    PS,
    SE,
    VO,
    VW,
    E,
    R,
    S,
    at,
    conflict,
    delivery_failed,
    event,
    recipient_changed,
    state_changed,
)

# The milestone each event type stamps, as the design names them.
MILESTONE_OF: dict[EventType, str] = {
    E.DOCUMENT_SENT: "sent_at",
    E.DOCUMENT_VIEWED: "first_viewed_at",
    E.RECIPIENT_SIGNED: "first_signed_at",
    E.DOCUMENT_COMPLETED: "completed_at",
    E.DOCUMENT_DECLINED: "declined_at",
    E.DOCUMENT_VOIDED: "voided_at",
    E.DOCUMENT_EXPIRED: "expired_at",
    E.DOCUMENT_DELIVERY_FAILED: "delivery_failed_at",
    E.REMINDER_SENT: "first_reminder_at",
}

# The terminal state each terminal event type claims.
CLAIMS: dict[EventType, EnvelopeState] = {
    E.DOCUMENT_COMPLETED: S.COMPLETED,
    E.DOCUMENT_DECLINED: S.DECLINED,
    E.DOCUMENT_VOIDED: S.VOIDED,
    E.DOCUMENT_EXPIRED: S.EXPIRED,
}

COLUMNS: tuple[EventType, ...] = (
    E.DOCUMENT_SENT,
    E.DOCUMENT_VIEWED,
    E.RECIPIENT_SIGNED,
    E.DOCUMENT_COMPLETED,
    E.DOCUMENT_DECLINED,
    E.DOCUMENT_VOIDED,
    E.DOCUMENT_EXPIRED,
    E.DOCUMENT_DELIVERY_FAILED,
    E.REMINDER_SENT,
)


XX = "conflict"

# Resulting state per (current state, event type); XX marks a conflict (the state stays).
TRANSITIONS: dict[EnvelopeState, tuple[EnvelopeState | str, ...]] = {
    #    sent viewed signed completed declined voided expired delivery_failed reminder
    CR: (SE, VW, PS, CO, DE, VO, EX, CR, CR),
    SE: (SE, VW, PS, CO, DE, VO, EX, SE, SE),
    DL: (DL, VW, PS, CO, DE, VO, EX, DL, DL),
    VW: (VW, VW, PS, CO, DE, VO, EX, VW, VW),
    PS: (PS, PS, PS, CO, DE, VO, EX, PS, PS),
    CO: (CO, CO, CO, CO, XX, XX, XX, CO, CO),
    DE: (DE, DE, DE, XX, DE, XX, XX, DE, DE),
    VO: (VO, VO, VO, XX, XX, VO, XX, VO, VO),
    EX: (EX, EX, EX, XX, XX, XX, EX, EX, EX),
}

PAIRS = list(itertools.product(EnvelopeState, EventType))
PAIR_IDS = [f"{state.value}+{etype.value}" for state, etype in PAIRS]


def test_the_transition_table_covers_every_state_and_every_event_type() -> None:
    assert set(TRANSITIONS) == set(EnvelopeState)
    assert set(COLUMNS) == set(EventType)
    assert len(COLUMNS) == len(EventType)
    assert all(len(row) == len(COLUMNS) for row in TRANSITIONS.values())
    assert set(MILESTONE_OF) == set(EventType)
    assert set(MILESTONES) == set(MILESTONE_OF.values())


def cell(state: EnvelopeState, etype: EventType) -> EnvelopeState | str:
    return TRANSITIONS[state][COLUMNS.index(etype)]


@pytest.mark.parametrize(("state", "etype"), PAIRS, ids=PAIR_IDS)
def test_an_event_on_a_fresh_envelope_in_each_state(state: EnvelopeState, etype: EventType) -> None:
    """Nothing recorded yet: the event always stamps its milestone, so it is never stale."""
    before = EnvelopeSnapshot(envelope_id=ENV, state=state)
    applied = apply_event(before, event(etype, minutes=10))

    expected = cell(state, etype)
    events: list[DomainEvent] = []
    conflicts: frozenset[EnvelopeState] = frozenset()
    if expected == XX:
        outcome, final = Outcome.CONFLICT, state
        conflicts = frozenset({CLAIMS[etype]})
        events.append(conflict(state, CLAIMS[etype], 10))
    elif expected != state:
        assert isinstance(expected, EnvelopeState)
        outcome, final = Outcome.ACCEPTED, expected
        events.append(state_changed(state, expected, 10))
    else:
        outcome, final = Outcome.MILESTONE, state
    if etype is E.DOCUMENT_DELIVERY_FAILED:
        events.append(delivery_failed(10))

    assert applied.snapshot.state is final
    assert applied.outcome is outcome
    assert list(applied.events) == events
    assert applied.previous_state is state
    assert applied.snapshot.milestones == {MILESTONE_OF[etype]: at(10)}
    assert applied.snapshot.delivery_failed is (etype is E.DOCUMENT_DELIVERY_FAILED)
    assert applied.snapshot.conflicts == conflicts
    assert applied.snapshot.recipients == {}
    assert before == EnvelopeSnapshot(envelope_id=ENV, state=state), "input was mutated"


@pytest.mark.parametrize(("state", "etype"), PAIRS, ids=PAIR_IDS)
def test_an_event_on_an_envelope_that_has_seen_everything_already(
    state: EnvelopeState, etype: EventType
) -> None:
    """Every milestone already stamped earlier, the flag set and every conflict recorded:
    only a real state move still emits anything."""
    milestones = {name: at(0) for name in MILESTONE_OF.values()}
    known_conflicts = TERMINAL - {state} if state in TERMINAL else frozenset()
    before = EnvelopeSnapshot(
        envelope_id=ENV,
        state=state,
        milestones=dict(milestones),
        delivery_failed=True,
        conflicts=known_conflicts,
    )
    applied = apply_event(before, event(etype, minutes=10))

    expected = cell(state, etype)
    if expected == XX:
        outcome, final, events = Outcome.CONFLICT, state, []
    elif expected != state:
        assert isinstance(expected, EnvelopeState)
        outcome, final = Outcome.ACCEPTED, expected
        events = [state_changed(state, expected, 10)]
    else:
        outcome, final, events = Outcome.STALE, state, []

    assert applied.snapshot.state is final
    assert applied.outcome is outcome
    assert list(applied.events) == events
    assert applied.previous_state is state
    assert applied.snapshot.milestones == milestones, "a later time must not replace a milestone"
    assert applied.snapshot.delivery_failed is True
    assert applied.snapshot.conflicts == known_conflicts


# Resulting recipient status per (prior status, event type); None means "not tracked".
RECIPIENT_TRANSITIONS: dict[RecipientState | None, tuple[RecipientState | None, ...]] = {
    #      sent      viewed    signed    completed declined voided expired failed reminder
    None: (R.SENT, R.VIEWED, R.SIGNED, None, R.DECLINED, None, None, None, None),
    R.SENT: (R.SENT, R.VIEWED, R.SIGNED, R.SENT, R.DECLINED, R.SENT, R.SENT, R.SENT, R.SENT),
    R.VIEWED: (
        R.VIEWED,
        R.VIEWED,
        R.SIGNED,
        R.VIEWED,
        R.DECLINED,
        R.VIEWED,
        R.VIEWED,
        R.VIEWED,
        R.VIEWED,
    ),
    # Signed and declined are both final answers: neither overrides the other.
    R.SIGNED: (R.SIGNED,) * 9,
    R.DECLINED: (R.DECLINED,) * 9,
}

RECIPIENT_PAIRS = list(itertools.product([None, *RecipientState], EventType))
RECIPIENT_PAIR_IDS = [
    f"{prior.value if prior else 'untracked'}+{etype.value}" for prior, etype in RECIPIENT_PAIRS
]


@pytest.mark.parametrize(("prior", "etype"), RECIPIENT_PAIRS, ids=RECIPIENT_PAIR_IDS)
def test_a_recipient_event_in_each_recipient_status(
    prior: RecipientState | None, etype: EventType
) -> None:
    recipients = {"bob": R.VIEWED}
    if prior is not None:
        recipients["ann"] = prior
    before = EnvelopeSnapshot(envelope_id=ENV, state=S.SENT, recipients=dict(recipients))
    applied = apply_event(before, event(etype, minutes=5, recipient="ann"))

    expected = RECIPIENT_TRANSITIONS[prior][COLUMNS.index(etype)]
    expected_recipients = {"bob": R.VIEWED}
    if expected is not None:
        expected_recipients["ann"] = expected
    recipient_events = [e for e in applied.events if e.kind == "recipient.status_changed"]

    assert applied.snapshot.recipients == expected_recipients
    if expected is not None and expected != prior:
        assert recipient_events == [recipient_changed("ann", expected, 5)]
    else:
        assert recipient_events == []


def test_the_recipient_table_covers_every_status_and_every_event_type() -> None:
    assert set(RECIPIENT_TRANSITIONS) == {None, *RecipientState}
    assert all(len(row) == len(EventType) for row in RECIPIENT_TRANSITIONS.values())
