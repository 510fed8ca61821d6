"""The one decision an event makes about an envelope (domain.decision): a webhook is applied by
the lifecycle; the provider's own report (authoritative) also settles a terminal state; a terminal
claim from a vendor whose signature does not cover the body waits for confirmation."""

from __future__ import annotations

from datetime import UTC, datetime

from inkbridge.domain.decision import awaits_confirmation, decide
from inkbridge.domain.events import EventType, NormalizedEvent
from inkbridge.domain.lifecycle import EnvelopeSnapshot, EnvelopeState, Outcome

T = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def _event(kind: EventType) -> NormalizedEvent:
    return NormalizedEvent(type=kind, provider="sandbox", provider_envelope_id="p1", occurred_at=T)


def test_a_webhook_naming_another_terminal_is_a_conflict_that_keeps_the_state() -> None:
    declined = EnvelopeSnapshot("env_1", state=EnvelopeState.DECLINED)
    applied = decide(declined, _event(EventType.DOCUMENT_COMPLETED), authoritative=False)
    assert applied.outcome is Outcome.CONFLICT
    assert applied.snapshot.state is EnvelopeState.DECLINED
    assert [e.kind for e in applied.events] == ["envelope.conflict_detected"]


def test_the_providers_report_moves_a_terminal_and_resolves_the_conflict_it_met() -> None:
    declined = EnvelopeSnapshot("env_1", state=EnvelopeState.DECLINED)
    applied = decide(declined, _event(EventType.DOCUMENT_COMPLETED), authoritative=True)
    assert applied.outcome is Outcome.ACCEPTED
    assert applied.snapshot.state is EnvelopeState.COMPLETED
    assert applied.snapshot.conflicts == frozenset()
    assert applied.previous_state is EnvelopeState.DECLINED
    assert [e.kind for e in applied.events] == [
        "envelope.state_changed",
        "envelope.conflict_resolved",
    ]
    assert applied.events[0].data["authoritative"] is True


def test_the_providers_report_of_an_open_state_is_applied_like_a_webhook() -> None:
    sent = EnvelopeSnapshot("env_1", state=EnvelopeState.SENT)
    event = _event(EventType.DOCUMENT_VIEWED)
    assert decide(sent, event, authoritative=True) == decide(sent, event, authoritative=False)


def test_a_report_agreeing_with_the_state_raises_no_event() -> None:
    completed = EnvelopeSnapshot("env_1", state=EnvelopeState.COMPLETED)
    applied = decide(completed, _event(EventType.DOCUMENT_COMPLETED), authoritative=True)
    assert applied.events == ()
    assert applied.snapshot.state is EnvelopeState.COMPLETED
    assert applied.snapshot.conflicts == frozenset()


def test_only_an_unsettled_envelope_holds_an_unconfirmed_terminal_claim() -> None:
    completed = _event(EventType.DOCUMENT_COMPLETED)
    sent = EnvelopeSnapshot("env_1", state=EnvelopeState.SENT)
    declined = EnvelopeSnapshot("env_1", state=EnvelopeState.DECLINED)
    assert awaits_confirmation(sent, completed, confirm_terminal=True)
    assert not awaits_confirmation(sent, completed, confirm_terminal=False)
    assert not awaits_confirmation(declined, completed, confirm_terminal=True)
    assert not awaits_confirmation(sent, _event(EventType.DOCUMENT_VIEWED), confirm_terminal=True)
