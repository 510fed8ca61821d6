"""The envelope lifecycle state machine: ranks, not arrival order; terminal states and
conflicts; milestones and duplicates; fact keys and replay."""

from __future__ import annotations

import pytest

from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.domain.lifecycle import (
    RANK,
    TERMINAL,
    Applied,
    EnvelopeSnapshot,
    EnvelopeState,
    Outcome,
    apply_event,
    replay,
    state_fact_key,
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
    apply_all,
    apply_to_new,
    at,
    conflict,
    event,
    recipient_changed,
    state_changed,
)


def test_the_happy_path_moves_through_every_state_with_one_event_each() -> None:
    results = apply_to_new(
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


@pytest.mark.parametrize(
    "first,late,state,milestone",
    [
        (event(E.DOCUMENT_COMPLETED, 9), event(E.DOCUMENT_VIEWED, 2), CO, "first_viewed_at"),
        (event(E.DOCUMENT_VIEWED, 5), event(E.DOCUMENT_SENT, 1), VW, "sent_at"),
    ],
    ids=["a view after completion", "a sent arriving after viewed"],
)
def test_a_late_lower_event_records_its_milestone_without_moving_the_state_back(
    first: NormalizedEvent, late: NormalizedEvent, state: EnvelopeState, milestone: str
) -> None:
    earlier = apply_event(EnvelopeSnapshot(envelope_id=ENV), first)
    applied = apply_event(earlier.snapshot, late)

    assert applied.snapshot.state is state
    assert applied.outcome is Outcome.MILESTONE
    assert applied.events == ()
    # The earlier event's milestone is kept; the late one is stamped at its provider time.
    kept = earlier.snapshot.milestones
    assert len(kept) == 1
    assert applied.snapshot.milestones == {**kept, milestone: late.occurred_at}


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
    results = apply_to_new(
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
    results = apply_to_new(
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
    first, second = apply_to_new(
        event(E.DOCUMENT_COMPLETED, 5),
        event(E.DOCUMENT_COMPLETED, 7),
    )
    assert_stale(first, second)
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
    results = apply_to_new(
        event(E.DOCUMENT_VIEWED, 30, "ann"),
        event(E.DOCUMENT_VIEWED, 10, "bob"),
        event(E.DOCUMENT_VIEWED, 20, "cat"),
    )
    assert [r.snapshot.milestones["first_viewed_at"] for r in results] == [at(30), at(10), at(10)]


def test_an_earlier_copy_of_an_event_corrects_the_milestone_without_emitting_anything() -> None:
    _, second = apply_to_new(
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
    assert_stale(first, second)


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


def assert_stale(first: Applied, second: Applied) -> None:
    """``second`` was stale after ``first``: it changed nothing and emitted nothing."""
    assert second.outcome is Outcome.STALE
    assert second.events == ()
    assert second.snapshot == first.snapshot
