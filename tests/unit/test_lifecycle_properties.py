"""Property tests: the lifecycle converges whatever order and however often events arrive.

Two kinds of input are generated: *valid histories* (what a provider really sends for one
envelope, with exactly one terminal event) and *noisy streams* (any events, any recipients, any
times, several contradictory terminals), both delivered shuffled and with duplicates.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from inkbridge.domain.events import DomainEvent, EventType, NormalizedEvent
from inkbridge.domain.lifecycle import (
    Applied,
    EnvelopeSnapshot,
    EnvelopeState,
    Outcome,
    RecipientState,
    apply_event,
    replay,
    state_fact_key,
)

ENV = "env-p"
RECIPIENT_IDS = ("r1", "r2", "r3")
E = EventType
S = EnvelopeState

TERMINAL_CLAIMS: dict[EventType, EnvelopeState] = {
    E.DOCUMENT_COMPLETED: S.COMPLETED,
    E.DOCUMENT_DECLINED: S.DECLINED,
    E.DOCUMENT_VOIDED: S.VOIDED,
    E.DOCUMENT_EXPIRED: S.EXPIRED,
}
PROGRESS_CLAIMS: dict[EventType, EnvelopeState] = {
    E.DOCUMENT_SENT: S.SENT,
    E.DOCUMENT_VIEWED: S.VIEWED,
    E.RECIPIENT_SIGNED: S.PARTIALLY_SIGNED,
}
PROGRESS_ORDER = (S.CREATED, S.SENT, S.DELIVERED, S.VIEWED, S.PARTIALLY_SIGNED)
RECIPIENT_CLAIMS: dict[EventType, RecipientState] = {
    E.DOCUMENT_SENT: RecipientState.SENT,
    E.DOCUMENT_VIEWED: RecipientState.VIEWED,
    E.RECIPIENT_SIGNED: RecipientState.SIGNED,
    E.DOCUMENT_DECLINED: RecipientState.DECLINED,
}
RECIPIENT_ORDER = {
    RecipientState.SENT: 1,
    RecipientState.VIEWED: 2,
    RecipientState.SIGNED: 3,
    RecipientState.DECLINED: 3,
}

SETTINGS = settings(max_examples=300, deadline=None)
NOISY_SETTINGS = settings(max_examples=200, deadline=None)


def make_event(etype: EventType, when: datetime, recipient: str | None) -> NormalizedEvent:
    return NormalizedEvent(
        type=etype,
        provider="fake",
        provider_envelope_id="prov-p",
        occurred_at=when,
        recipient_id=recipient,
    )


# --------------------------------------------------------------------------------------------
# Strategies.
# --------------------------------------------------------------------------------------------


@st.composite
def histories(draw: st.DrawFn) -> list[NormalizedEvent]:
    """A realistic in-order history for one envelope with exactly one terminal event."""
    recipients = RECIPIENT_IDS[: draw(st.integers(1, 3))]
    terminal = draw(st.sampled_from(list(TERMINAL_CLAIMS)))

    decliner = draw(st.sampled_from(recipients)) if terminal is E.DOCUMENT_DECLINED else None
    if terminal is E.DOCUMENT_COMPLETED:
        signers = list(recipients)
    else:
        signers = [r for r in recipients if r != decliner and draw(st.booleans())]
    viewers = [r for r in recipients if r in signers or r == decliner or draw(st.booleans())]

    steps: list[tuple[EventType, str | None]] = [(E.DOCUMENT_SENT, None)]
    if draw(st.booleans()):
        steps += [(E.DOCUMENT_SENT, r) for r in recipients]
    if draw(st.booleans()):
        steps.append((E.DOCUMENT_DELIVERY_FAILED, draw(st.sampled_from([None, *recipients]))))
    if draw(st.booleans()):
        steps.append((E.REMINDER_SENT, None))
    steps += [(E.DOCUMENT_VIEWED, r) for r in viewers]
    if draw(st.booleans()):
        steps.append((E.REMINDER_SENT, None))
    steps += [(E.RECIPIENT_SIGNED, r) for r in signers]
    steps.append((terminal, decliner))

    when = draw(
        st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1))
    ).replace(tzinfo=UTC)
    events = []
    for etype, recipient in steps:
        when += timedelta(seconds=draw(st.integers(1, 3 * 24 * 3600)))
        events.append(make_event(etype, when, recipient))
    return events


T0 = datetime(2024, 1, 1, tzinfo=UTC)

noisy_events = st.builds(
    make_event,
    st.sampled_from(list(EventType)),
    st.integers(0, 50).map(lambda m: T0 + timedelta(minutes=m)),
    st.sampled_from([None, *RECIPIENT_IDS]),
)
noisy_streams = st.lists(noisy_events, max_size=25)


def scrambled(history: list[NormalizedEvent]) -> st.SearchStrategy[list[NormalizedEvent]]:
    """Any permutation of the history with any events delivered again at any position."""

    @st.composite
    def build(draw: st.DrawFn) -> list[NormalizedEvent]:
        delivered = list(draw(st.permutations(history)))
        if not history:
            return delivered
        for again in draw(st.lists(st.sampled_from(history), max_size=len(history))):
            delivered.insert(draw(st.integers(0, len(delivered))), again)
        return delivered

    return build()


# --------------------------------------------------------------------------------------------
# Helpers: run a delivery through a simulated outbox, and what a change should emit.
# --------------------------------------------------------------------------------------------


def facts_for_change(before: EnvelopeSnapshot, after: EnvelopeSnapshot) -> set[str]:
    """The fact keys one application must emit: one per thing that changed, nothing else."""
    facts: set[str] = set()
    if after.state != before.state:
        facts.add(state_fact_key(ENV, after.state))
    for rid, status in after.recipients.items():
        if before.recipients.get(rid) != status:
            facts.add(f"envelope:{ENV}:recipient:{rid}:{status.value}")
    if after.delivery_failed and not before.delivery_failed:
        facts.add(f"envelope:{ENV}:delivery_failed")
    for claimed in after.conflicts - before.conflicts:
        facts.add(f"envelope:{ENV}:conflict:{claimed.value}")
    return facts


def expected_outcome(
    before: EnvelopeSnapshot, after: EnvelopeSnapshot, event: NormalizedEvent
) -> Outcome:
    if after.state != before.state:
        return Outcome.ACCEPTED
    claimed = TERMINAL_CLAIMS.get(event.type)
    if before.is_terminal and claimed is not None and claimed != before.state:
        return Outcome.CONFLICT
    if after != before:
        return Outcome.MILESTONE
    return Outcome.STALE


def through_outbox(
    events: list[NormalizedEvent],
) -> tuple[EnvelopeSnapshot, dict[str, DomainEvent], list[EnvelopeState]]:
    """Apply events one by one, writing every domain event to an outbox keyed by fact_key."""
    snapshot = EnvelopeSnapshot(envelope_id=ENV)
    outbox: dict[str, DomainEvent] = {}
    entered: list[EnvelopeState] = []
    for event in events:
        applied = apply_event(snapshot, event)
        keys = [e.fact_key for e in applied.events]
        assert len(keys) == len(set(keys)), f"one application emitted a fact twice: {keys}"
        assert set(keys) == facts_for_change(snapshot, applied.snapshot)
        assert applied.outcome is expected_outcome(snapshot, applied.snapshot, event)
        assert applied.previous_state is snapshot.state
        for domain_event in applied.events:
            assert domain_event.fact_key not in outbox, f"{domain_event.fact_key} emitted twice"
            assert domain_event.envelope_id == ENV
            assert domain_event.occurred_at == event.occurred_at
            outbox[domain_event.fact_key] = domain_event
        if applied.snapshot.state != snapshot.state:
            entered.append(applied.snapshot.state)
        snapshot = applied.snapshot
    return snapshot, outbox, entered


def state_change_facts(outbox: dict[str, DomainEvent]) -> list[str]:
    return [k for k, e in outbox.items() if e.kind == "envelope.state_changed"]


def assert_second_application_changes_nothing(
    snapshot: EnvelopeSnapshot, event: NormalizedEvent
) -> Applied:
    first = apply_event(snapshot, event)
    second = apply_event(first.snapshot, event)
    assert second.events == ()
    assert second.snapshot == first.snapshot
    assert second.outcome in {Outcome.STALE, Outcome.CONFLICT}
    if second.outcome is Outcome.CONFLICT:
        assert first.outcome is Outcome.CONFLICT
    return first


# --------------------------------------------------------------------------------------------
# (a) Convergence.
# --------------------------------------------------------------------------------------------


@SETTINGS
@given(data=st.data())
def test_any_order_and_any_duplication_converge_to_the_in_order_snapshot(
    data: st.DataObject,
) -> None:
    history = data.draw(histories(), label="history")
    delivered = data.draw(scrambled(history), label="delivered")

    in_order = replay(ENV, history)
    shuffled = replay(ENV, delivered)

    assert shuffled.state is in_order.state
    assert shuffled.milestones == in_order.milestones
    assert shuffled.recipients == in_order.recipients
    assert shuffled.delivery_failed is in_order.delivery_failed
    assert shuffled.conflicts == in_order.conflicts == frozenset()
    assert shuffled == in_order


@NOISY_SETTINGS
@given(data=st.data())
def test_milestones_and_the_flag_converge_for_any_stream_in_any_order(
    data: st.DataObject,
) -> None:
    stream = data.draw(noisy_streams, label="stream")
    delivered = data.draw(scrambled(stream), label="delivered")
    a, b = replay(ENV, stream), replay(ENV, delivered)
    assert a.milestones == b.milestones
    assert a.delivery_failed is b.delivery_failed


# --------------------------------------------------------------------------------------------
# (b) Exactly one domain event per accepted change, nothing for duplicates.
# --------------------------------------------------------------------------------------------


@SETTINGS
@given(data=st.data())
def test_every_fact_reaches_the_outbox_once_and_state_facts_follow_the_states_entered(
    data: st.DataObject,
) -> None:
    history = data.draw(histories(), label="history")
    delivered = data.draw(scrambled(history), label="delivered")

    final, outbox, entered = through_outbox(delivered)

    assert state_change_facts(outbox) == [state_fact_key(ENV, s) for s in entered]
    assert len(entered) == len(set(entered))
    assert entered[-1] is final.state
    assert not any(e.kind == "envelope.conflict_detected" for e in outbox.values())


@NOISY_SETTINGS
@given(data=st.data())
def test_noisy_streams_never_emit_a_fact_twice(data: st.DataObject) -> None:
    stream = data.draw(noisy_streams, label="stream")
    delivered = data.draw(scrambled(stream), label="delivered")

    final, outbox, entered = through_outbox(delivered)

    assert state_change_facts(outbox) == [state_fact_key(ENV, s) for s in entered]
    conflict_facts = {k for k, e in outbox.items() if e.kind == "envelope.conflict_detected"}
    assert conflict_facts == {f"envelope:{ENV}:conflict:{c.value}" for c in final.conflicts}


@NOISY_SETTINGS
@given(data=st.data())
def test_noisy_streams_end_where_the_rules_say(data: st.DataObject) -> None:
    """First terminal to arrive wins; later different terminals are conflicts; otherwise the
    highest-ranked progress state; milestones are the earliest provider time per milestone."""
    delivered = data.draw(noisy_streams, label="delivered")
    final = replay(ENV, delivered)

    terminals = [TERMINAL_CLAIMS[e.type] for e in delivered if e.type in TERMINAL_CLAIMS]
    if terminals:
        assert final.state is terminals[0]
        assert final.conflicts == set(terminals) - {terminals[0]}
    else:
        progress = [PROGRESS_CLAIMS[e.type] for e in delivered if e.type in PROGRESS_CLAIMS]
        assert final.state is max([S.CREATED, *progress], key=PROGRESS_ORDER.index)
        assert final.conflicts == frozenset()
    assert final.delivery_failed is any(e.type is E.DOCUMENT_DELIVERY_FAILED for e in delivered)

    for rid in RECIPIENT_IDS:
        claims = [
            RECIPIENT_CLAIMS[e.type]
            for e in delivered
            if e.recipient_id == rid and e.type in RECIPIENT_CLAIMS
        ]
        if not claims:
            assert rid not in final.recipients
            continue
        top = max(RECIPIENT_ORDER[c] for c in claims)
        assert final.recipients[rid] is next(c for c in claims if RECIPIENT_ORDER[c] == top)


# --------------------------------------------------------------------------------------------
# (c) The final state is the terminal of the history.
# --------------------------------------------------------------------------------------------


@SETTINGS
@given(data=st.data())
def test_the_final_state_is_the_terminal_of_the_history(data: st.DataObject) -> None:
    history = data.draw(histories(), label="history")
    delivered = data.draw(scrambled(history), label="delivered")
    terminal = history[-1]

    final = replay(ENV, delivered)

    assert final.state is TERMINAL_CLAIMS[terminal.type]
    assert final.is_terminal
    assert (
        final.milestones[
            {
                S.COMPLETED: "completed_at",
                S.DECLINED: "declined_at",
                S.VOIDED: "voided_at",
                S.EXPIRED: "expired_at",
            }[final.state]
        ]
        == terminal.occurred_at
    )
    assert final.milestones["sent_at"] == history[0].occurred_at


# --------------------------------------------------------------------------------------------
# (d) Applying an event twice in a row changes nothing the second time.
# --------------------------------------------------------------------------------------------


@SETTINGS
@given(data=st.data())
def test_applying_any_event_twice_in_a_row_changes_nothing_the_second_time(
    data: st.DataObject,
) -> None:
    history = data.draw(histories(), label="history")
    delivered = data.draw(scrambled(history), label="delivered")
    snapshot = EnvelopeSnapshot(envelope_id=ENV)
    for event in delivered:
        snapshot = assert_second_application_changes_nothing(snapshot, event).snapshot


@NOISY_SETTINGS
@given(data=st.data())
def test_applying_any_noisy_event_twice_in_a_row_changes_nothing_the_second_time(
    data: st.DataObject,
) -> None:
    stream = data.draw(noisy_streams, label="stream")
    snapshot = EnvelopeSnapshot(envelope_id=ENV)
    for event in stream:
        first: Applied = assert_second_application_changes_nothing(snapshot, event)
        snapshot = first.snapshot
