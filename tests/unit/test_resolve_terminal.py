"""The provider's status settles terminal conflicts (reconciliation), once."""

from __future__ import annotations

from datetime import UTC, datetime

from inkbridge.domain.lifecycle import (
    EnvelopeSnapshot,
    EnvelopeState,
    Outcome,
    resolve_terminal,
)

T = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_the_provider_overrides_a_different_terminal_and_clears_the_conflict() -> None:
    held = EnvelopeSnapshot(
        "env_1", state=EnvelopeState.DECLINED, conflicts=frozenset({EnvelopeState.COMPLETED})
    )
    settled = resolve_terminal(held, EnvelopeState.COMPLETED, T)
    assert settled.snapshot.state is EnvelopeState.COMPLETED
    assert settled.snapshot.conflicts == frozenset()
    assert settled.snapshot.milestones["completed_at"] == T
    assert [e.kind for e in settled.events] == [
        "envelope.state_changed",
        "envelope.conflict_resolved",
    ]
    assert settled.events[0].fact_key == "envelope:env_1:state:completed"
    assert settled.outcome is Outcome.ACCEPTED


def test_agreement_with_a_conflict_only_clears_it() -> None:
    held = EnvelopeSnapshot(
        "env_1", state=EnvelopeState.COMPLETED, conflicts=frozenset({EnvelopeState.DECLINED})
    )
    settled = resolve_terminal(held, EnvelopeState.COMPLETED, T)
    assert settled.snapshot.state is EnvelopeState.COMPLETED
    assert [e.kind for e in settled.events] == ["envelope.conflict_resolved"]


def test_settling_twice_emits_nothing_the_second_time() -> None:
    held = EnvelopeSnapshot(
        "env_1", state=EnvelopeState.DECLINED, conflicts=frozenset({EnvelopeState.COMPLETED})
    )
    once = resolve_terminal(held, EnvelopeState.COMPLETED, T)
    twice = resolve_terminal(once.snapshot, EnvelopeState.COMPLETED, T)
    assert twice.events == () and twice.outcome is Outcome.STALE


def test_an_open_envelope_is_moved_to_the_providers_terminal() -> None:
    held = EnvelopeSnapshot("env_1", state=EnvelopeState.VIEWED)
    settled = resolve_terminal(held, EnvelopeState.EXPIRED, T)
    assert settled.snapshot.state is EnvelopeState.EXPIRED
    assert settled.events[0].data == {"from": "viewed", "to": "expired", "authoritative": True}
