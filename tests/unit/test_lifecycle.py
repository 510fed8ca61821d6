"""The envelope lifecycle state machine: every (state, event type) pair, then each behaviour.

The expectations here are written out by hand from the design, not derived from the tables in
``inkbridge.domain.lifecycle``, so a change to those tables shows up as a failing test.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from inkbridge.domain.events import DomainEvent, EventType, NormalizedEvent
from inkbridge.domain.lifecycle import (
    MILESTONES,
    RANK,
    TERMINAL,
    Applied,
    EnvelopeSnapshot,
    EnvelopeState,
    Outcome,
    RecipientState,
    apply_event,
    replay,
    state_fact_key,
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
    return DomainEvent(
        kind="envelope.conflict_detected",
        envelope_id=ENV,
        fact_key=f"envelope:{ENV}:conflict:{claimed.value}",
        occurred_at=at(minutes),
        data={"state": state.value, "claimed": claimed.value},
    )


def delivery_failed(minutes: int, recipient: str | None = None) -> DomainEvent:
    return DomainEvent(
        kind="envelope.delivery_failed",
        envelope_id=ENV,
        fact_key=f"envelope:{ENV}:delivery_failed",
        occurred_at=at(minutes),
        data={"recipient_id": recipient},
    )


def recipient_changed(recipient: str, status: RecipientState, minutes: int) -> DomainEvent:
    return DomainEvent(
        kind="recipient.status_changed",
        envelope_id=ENV,
        fact_key=f"envelope:{ENV}:recipient:{recipient}:{status.value}",
        occurred_at=at(minutes),
        data={"recipient_id": recipient, "status": status.value},
    )


def apply_all(snapshot: EnvelopeSnapshot, *events: NormalizedEvent) -> list[Applied]:
    results = []
    for ev in events:
        applied = apply_event(snapshot, ev)
        results.append(applied)
        snapshot = applied.snapshot
    return results


# --------------------------------------------------------------------------------------------
# The full table: every current state against every event type.
# --------------------------------------------------------------------------------------------

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

CR, SE, DL, VW, PS = S.CREATED, S.SENT, S.DELIVERED, S.VIEWED, S.PARTIALLY_SIGNED
CO, DE, VO, EX = S.COMPLETED, S.DECLINED, S.VOIDED, S.EXPIRED
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


# --------------------------------------------------------------------------------------------
# Ranks, not arrival order.
# --------------------------------------------------------------------------------------------


def test_the_happy_path_moves_through_every_state_with_one_event_each() -> None:
    results = apply_all(
        EnvelopeSnapshot(envelope_id=ENV),
        event(E.DOCUMENT_SENT, 1),
        event(E.DOCUMENT_VIEWED, 2, "ann"),
        event(E.RECIPIENT_SIGNED, 3, "ann"),
        event(E.DOCUMENT_COMPLETED, 4),
    )
    assert [r.snapshot.state for r in results] == [SE, VW, PS, CO]
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 4
    state_events = [e for r in results for e in r.events if e.kind == "envelope.state_changed"]
    assert state_events == [
        state_changed(CR, SE, 1),
        state_changed(SE, VW, 2),
        state_changed(VW, PS, 3),
        state_changed(PS, CO, 4),
    ]


def test_ranks_rise_along_the_happy_path_and_all_terminals_share_the_top_rank() -> None:
    path = [CR, SE, DL, VW, PS]
    assert [RANK[s] for s in path] == sorted(RANK[s] for s in path)
    assert len({RANK[s] for s in path}) == len(path)
    assert {RANK[s] for s in TERMINAL} == {max(RANK.values())}
    assert max(RANK[s] for s in path) < min(RANK[s] for s in TERMINAL)


def test_a_view_after_completion_records_the_milestone_but_keeps_the_state() -> None:
    completed = apply_event(EnvelopeSnapshot(envelope_id=ENV), event(E.DOCUMENT_COMPLETED, 9))
    applied = apply_event(completed.snapshot, event(E.DOCUMENT_VIEWED, 2))

    assert applied.snapshot.state is CO
    assert applied.outcome is Outcome.MILESTONE
    assert applied.events == ()
    assert applied.snapshot.milestones == {"completed_at": at(9), "first_viewed_at": at(2)}


def test_a_sent_arriving_after_viewed_records_sent_at_without_moving_the_state_back() -> None:
    viewed = apply_event(EnvelopeSnapshot(envelope_id=ENV), event(E.DOCUMENT_VIEWED, 5))
    applied = apply_event(viewed.snapshot, event(E.DOCUMENT_SENT, 1))

    assert applied.snapshot.state is VW
    assert applied.outcome is Outcome.MILESTONE
    assert applied.events == ()
    assert applied.snapshot.milestones["sent_at"] == at(1)


def test_a_terminal_event_from_created_jumps_straight_to_the_terminal_state() -> None:
    applied = apply_event(EnvelopeSnapshot(envelope_id=ENV), event(E.DOCUMENT_VOIDED, 3))
    assert applied.snapshot.state is VO
    assert applied.outcome is Outcome.ACCEPTED
    assert applied.events == (state_changed(CR, VO, 3),)


def test_a_second_signature_keeps_partially_signed_and_emits_only_the_recipient_change() -> None:
    first = apply_event(
        EnvelopeSnapshot(envelope_id=ENV, state=VW), event(E.RECIPIENT_SIGNED, 3, "ann")
    )
    second = apply_event(first.snapshot, event(E.RECIPIENT_SIGNED, 4, "bob"))

    assert first.outcome is Outcome.ACCEPTED
    assert first.events == (state_changed(VW, PS, 3), recipient_changed("ann", R.SIGNED, 3))
    assert second.snapshot.state is PS
    assert second.outcome is Outcome.MILESTONE
    assert second.events == (recipient_changed("bob", R.SIGNED, 4),)
    assert second.snapshot.milestones["first_signed_at"] == at(3)


def test_the_state_change_is_listed_before_the_side_effects_it_came_with() -> None:
    applied = apply_event(EnvelopeSnapshot(envelope_id=ENV), event(E.DOCUMENT_DECLINED, 7, "ann"))
    assert [e.kind for e in applied.events] == [
        "envelope.state_changed",
        "recipient.status_changed",
    ]


def test_previous_state_is_the_state_before_the_event() -> None:
    applied = apply_event(
        EnvelopeSnapshot(envelope_id=ENV, state=SE), event(E.DOCUMENT_COMPLETED, 1)
    )
    assert applied.previous_state is SE
    assert applied.snapshot.state is CO


# --------------------------------------------------------------------------------------------
# Terminal states and conflicts.
# --------------------------------------------------------------------------------------------


def test_declined_after_completed_is_a_conflict_and_the_state_stays_completed() -> None:
    completed = apply_event(EnvelopeSnapshot(envelope_id=ENV), event(E.DOCUMENT_COMPLETED, 5))
    applied = apply_event(completed.snapshot, event(E.DOCUMENT_DECLINED, 6))

    assert applied.snapshot.state is CO
    assert applied.outcome is Outcome.CONFLICT
    assert applied.events == (conflict(CO, DE, 6),)
    assert applied.snapshot.conflicts == frozenset({DE})
    assert applied.snapshot.milestones["completed_at"] == at(5)


def test_a_repeated_conflicting_terminal_event_is_a_conflict_that_emits_nothing_new() -> None:
    results = apply_all(
        EnvelopeSnapshot(envelope_id=ENV),
        event(E.DOCUMENT_COMPLETED, 5),
        event(E.DOCUMENT_DECLINED, 6),
        event(E.DOCUMENT_DECLINED, 6),
        event(E.DOCUMENT_DECLINED, 8),
    )
    assert [r.outcome for r in results[1:]] == [Outcome.CONFLICT] * 3
    assert [len(r.events) for r in results[1:]] == [1, 0, 0]
    assert results[-1].snapshot.conflicts == frozenset({DE})
    assert results[-1].snapshot.state is CO


def test_each_distinct_conflicting_terminal_is_recorded_once() -> None:
    results = apply_all(
        EnvelopeSnapshot(envelope_id=ENV),
        event(E.DOCUMENT_EXPIRED, 1),
        event(E.DOCUMENT_VOIDED, 2),
        event(E.DOCUMENT_COMPLETED, 3),
        event(E.DOCUMENT_VOIDED, 4),
        event(E.DOCUMENT_DECLINED, 5),
    )
    conflict_keys = [e.fact_key for r in results for e in r.events if "conflict" in e.kind]
    assert conflict_keys == [
        f"envelope:{ENV}:conflict:voided",
        f"envelope:{ENV}:conflict:completed",
        f"envelope:{ENV}:conflict:declined",
    ]
    assert results[-1].snapshot.state is EX
    assert results[-1].snapshot.conflicts == frozenset({VO, CO, DE})


def test_the_same_terminal_event_twice_is_stale_not_a_conflict() -> None:
    first, second = apply_all(
        EnvelopeSnapshot(envelope_id=ENV),
        event(E.DOCUMENT_COMPLETED, 5),
        event(E.DOCUMENT_COMPLETED, 7),
    )
    assert second.outcome is Outcome.STALE
    assert second.events == ()
    assert second.snapshot == first.snapshot
    assert second.snapshot.conflicts == frozenset()


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
@pytest.mark.parametrize("etype", [E.DOCUMENT_SENT, E.DOCUMENT_VIEWED, E.RECIPIENT_SIGNED])
def test_terminal_states_are_final_against_any_progress_event(
    terminal: EnvelopeState, etype: EventType
) -> None:
    applied = apply_event(EnvelopeSnapshot(envelope_id=ENV, state=terminal), event(etype, 1))
    assert applied.snapshot.state is terminal
    assert not any(e.kind == "envelope.state_changed" for e in applied.events)


@pytest.mark.parametrize("state", list(EnvelopeState))
def test_is_terminal_is_true_exactly_for_completed_declined_voided_and_expired(
    state: EnvelopeState,
) -> None:
    expected = state in {CO, DE, VO, EX}
    assert EnvelopeSnapshot(envelope_id=ENV, state=state).is_terminal is expected
    assert (state in TERMINAL) is expected


# --------------------------------------------------------------------------------------------
# Milestones and duplicates.
# --------------------------------------------------------------------------------------------


def test_the_earliest_provider_time_wins_for_a_milestone() -> None:
    results = apply_all(
        EnvelopeSnapshot(envelope_id=ENV),
        event(E.DOCUMENT_VIEWED, 30, "ann"),
        event(E.DOCUMENT_VIEWED, 10, "bob"),
        event(E.DOCUMENT_VIEWED, 20, "cat"),
    )
    assert [r.snapshot.milestones["first_viewed_at"] for r in results] == [at(30), at(10), at(10)]


def test_an_earlier_copy_of_an_event_corrects_the_milestone_without_emitting_anything() -> None:
    _, second = apply_all(
        EnvelopeSnapshot(envelope_id=ENV),
        event(E.DOCUMENT_SENT, 10),
        event(E.DOCUMENT_SENT, 4),
    )
    assert second.outcome is Outcome.MILESTONE
    assert second.events == ()
    assert second.snapshot.state is SE
    assert second.snapshot.milestones == {"sent_at": at(4)}


def test_a_milestone_takes_the_provider_time_not_the_order_of_arrival() -> None:
    snapshot = replay(
        ENV,
        [event(E.DOCUMENT_COMPLETED, 50), event(E.DOCUMENT_SENT, 1), event(E.DOCUMENT_VIEWED, 20)],
    )
    assert snapshot.milestones == {
        "completed_at": at(50),
        "sent_at": at(1),
        "first_viewed_at": at(20),
    }


@pytest.mark.parametrize("etype", list(EventType))
def test_a_duplicate_event_emits_nothing(etype: EventType) -> None:
    dup = event(etype, 3, "ann")
    first, second = apply_all(EnvelopeSnapshot(envelope_id=ENV, state=SE), dup, dup)
    assert second.outcome is Outcome.STALE
    assert second.events == ()
    assert second.snapshot == first.snapshot


def test_apply_event_leaves_the_input_snapshot_untouched() -> None:
    before = EnvelopeSnapshot(
        envelope_id=ENV,
        state=SE,
        milestones={"sent_at": at(5)},
        recipients={"ann": R.SENT},
    )
    apply_event(before, event(E.DOCUMENT_SENT, 1, "ann"))
    apply_event(before, event(E.DOCUMENT_VIEWED, 2, "ann"))
    assert before.milestones == {"sent_at": at(5)}
    assert before.recipients == {"ann": R.SENT}
    assert before.state is SE


# --------------------------------------------------------------------------------------------
# Recipients.
# --------------------------------------------------------------------------------------------


def test_a_recipient_moves_sent_viewed_signed_with_one_event_each() -> None:
    results = apply_all(
        EnvelopeSnapshot(envelope_id=ENV),
        event(E.DOCUMENT_SENT, 1, "ann"),
        event(E.DOCUMENT_VIEWED, 2, "ann"),
        event(E.RECIPIENT_SIGNED, 3, "ann"),
    )
    assert [r.snapshot.recipients["ann"] for r in results] == [R.SENT, R.VIEWED, R.SIGNED]
    recipient_events = [e for r in results for e in r.events if e.kind.startswith("recipient.")]
    assert recipient_events == [
        recipient_changed("ann", R.SENT, 1),
        recipient_changed("ann", R.VIEWED, 2),
        recipient_changed("ann", R.SIGNED, 3),
    ]


def test_a_recipient_view_after_signing_is_ignored_for_the_recipient() -> None:
    signed = apply_event(EnvelopeSnapshot(envelope_id=ENV), event(E.RECIPIENT_SIGNED, 5, "ann"))
    applied = apply_event(signed.snapshot, event(E.DOCUMENT_VIEWED, 2, "ann"))
    assert applied.snapshot.recipients == {"ann": R.SIGNED}
    assert applied.events == ()
    assert applied.outcome is Outcome.MILESTONE  # first_viewed_at was stamped
    assert applied.snapshot.milestones["first_viewed_at"] == at(2)


def test_recipients_are_tracked_independently() -> None:
    snapshot = replay(
        ENV,
        [
            event(E.DOCUMENT_SENT, 1, "ann"),
            event(E.DOCUMENT_SENT, 1, "bob"),
            event(E.DOCUMENT_VIEWED, 2, "bob"),
            event(E.RECIPIENT_SIGNED, 3, "bob"),
            event(E.DOCUMENT_VIEWED, 4, "cat"),
        ],
    )
    assert snapshot.recipients == {"ann": R.SENT, "bob": R.SIGNED, "cat": R.VIEWED}


def test_a_recipient_decline_declines_both_the_recipient_and_the_envelope() -> None:
    applied = apply_event(
        EnvelopeSnapshot(envelope_id=ENV, state=VW, recipients={"ann": R.VIEWED}),
        event(E.DOCUMENT_DECLINED, 6, "ann"),
    )
    assert applied.snapshot.state is DE
    assert applied.snapshot.recipients == {"ann": R.DECLINED}
    assert applied.events == (state_changed(VW, DE, 6), recipient_changed("ann", R.DECLINED, 6))


def test_a_signed_recipient_is_not_overwritten_by_a_later_decline() -> None:
    signed = apply_event(EnvelopeSnapshot(envelope_id=ENV), event(E.RECIPIENT_SIGNED, 1, "ann"))
    applied = apply_event(signed.snapshot, event(E.DOCUMENT_DECLINED, 2, "ann"))
    assert applied.snapshot.recipients == {"ann": R.SIGNED}
    assert all(e.kind != "recipient.status_changed" for e in applied.events)


@pytest.mark.parametrize("etype", list(EventType))
def test_an_event_without_a_recipient_leaves_the_recipients_untouched(etype: EventType) -> None:
    before = EnvelopeSnapshot(envelope_id=ENV, recipients={"ann": R.SENT})
    applied = apply_event(before, event(etype, 1))
    assert applied.snapshot.recipients == {"ann": R.SENT}
    assert all(e.kind != "recipient.status_changed" for e in applied.events)


@pytest.mark.parametrize(
    "etype",
    [E.DOCUMENT_COMPLETED, E.DOCUMENT_VOIDED, E.DOCUMENT_EXPIRED, E.REMINDER_SENT],
)
def test_envelope_only_events_do_not_track_the_recipient_they_name(etype: EventType) -> None:
    applied = apply_event(EnvelopeSnapshot(envelope_id=ENV), event(etype, 1, "ann"))
    assert applied.snapshot.recipients == {}
    assert all(e.kind != "recipient.status_changed" for e in applied.events)


def test_a_delivery_failure_for_a_recipient_does_not_change_that_recipients_status() -> None:
    applied = apply_event(
        EnvelopeSnapshot(envelope_id=ENV, state=SE, recipients={"ann": R.SENT}),
        event(E.DOCUMENT_DELIVERY_FAILED, 2, "ann"),
    )
    assert applied.snapshot.recipients == {"ann": R.SENT}
    assert applied.events == (delivery_failed(2, "ann"),)


# --------------------------------------------------------------------------------------------
# The delivery_failed flag and reminders.
# --------------------------------------------------------------------------------------------


def test_a_delivery_failure_sets_the_flag_and_emits_exactly_once() -> None:
    results = apply_all(
        EnvelopeSnapshot(envelope_id=ENV, state=SE),
        event(E.DOCUMENT_DELIVERY_FAILED, 5, "ann"),
        event(E.DOCUMENT_DELIVERY_FAILED, 6, "bob"),
        event(E.DOCUMENT_DELIVERY_FAILED, 2, "cat"),
    )
    assert [r.snapshot.delivery_failed for r in results] == [True, True, True]
    assert [r.events for r in results] == [(delivery_failed(5, "ann"),), (), ()]
    assert [r.outcome for r in results] == [Outcome.MILESTONE, Outcome.STALE, Outcome.MILESTONE]
    assert results[-1].snapshot.milestones["delivery_failed_at"] == at(2)
    assert results[-1].snapshot.state is SE


def test_a_delivery_failure_is_still_flagged_on_a_terminal_envelope() -> None:
    applied = apply_event(
        EnvelopeSnapshot(envelope_id=ENV, state=EX), event(E.DOCUMENT_DELIVERY_FAILED, 1)
    )
    assert applied.snapshot.state is EX
    assert applied.snapshot.delivery_failed is True
    assert applied.events == (delivery_failed(1),)


def test_a_reminder_only_stamps_a_milestone() -> None:
    results = apply_all(
        EnvelopeSnapshot(envelope_id=ENV, state=VW),
        event(E.REMINDER_SENT, 10),
        event(E.REMINDER_SENT, 20),
        event(E.REMINDER_SENT, 5),
    )
    assert [r.outcome for r in results] == [Outcome.MILESTONE, Outcome.STALE, Outcome.MILESTONE]
    assert all(r.events == () for r in results)
    assert all(r.snapshot.state is VW for r in results)
    assert results[-1].snapshot.milestones == {"first_reminder_at": at(5)}
    assert results[-1].snapshot.recipients == {}
    assert results[-1].snapshot.delivery_failed is False


# --------------------------------------------------------------------------------------------
# Fact keys and replay.
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(EnvelopeState))
def test_a_state_fact_key_names_the_envelope_and_the_state(state: EnvelopeState) -> None:
    assert state_fact_key("abc", state) == f"envelope:abc:state:{state.value}"


def test_domain_events_carry_the_envelope_id_of_the_snapshot() -> None:
    applied = apply_event(EnvelopeSnapshot(envelope_id="other"), event(E.DOCUMENT_SENT, 1, "ann"))
    assert {e.envelope_id for e in applied.events} == {"other"}
    assert applied.events[0] == state_changed(CR, SE, 1, env="other")


HISTORY = [
    event(E.DOCUMENT_SENT, 1),
    event(E.DOCUMENT_SENT, 1, "ann"),
    event(E.DOCUMENT_SENT, 1, "bob"),
    event(E.REMINDER_SENT, 30),
    event(E.DOCUMENT_DELIVERY_FAILED, 31, "bob"),
    event(E.DOCUMENT_VIEWED, 40, "ann"),
    event(E.RECIPIENT_SIGNED, 45, "ann"),
    event(E.DOCUMENT_VIEWED, 50, "bob"),
    event(E.DOCUMENT_DECLINED, 55, "bob"),
    event(E.DOCUMENT_EXPIRED, 60),
    event(E.DOCUMENT_VIEWED, 20, "ann"),
]


def test_replay_equals_folding_apply_event() -> None:
    folded = EnvelopeSnapshot(envelope_id=ENV)
    for ev in HISTORY:
        folded = apply_event(folded, ev).snapshot
    assert replay(ENV, HISTORY) == folded
    assert folded == EnvelopeSnapshot(
        envelope_id=ENV,
        state=DE,
        milestones={
            "sent_at": at(1),
            "first_reminder_at": at(30),
            "delivery_failed_at": at(31),
            "first_viewed_at": at(20),
            "first_signed_at": at(45),
            "declined_at": at(55),
            "expired_at": at(60),
        },
        recipients={"ann": R.SIGNED, "bob": R.DECLINED},
        delivery_failed=True,
        conflicts=frozenset({EX}),
    )


def test_replay_of_no_events_is_a_fresh_envelope() -> None:
    assert replay(ENV, []) == EnvelopeSnapshot(envelope_id=ENV)


def test_replay_does_not_depend_on_arrival_order_for_a_single_terminal() -> None:
    history = [e for e in HISTORY if e.type is not E.DOCUMENT_EXPIRED]
    assert replay(ENV, history) == replay(ENV, list(reversed(history)))
