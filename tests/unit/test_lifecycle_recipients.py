"""The envelope lifecycle state machine: recipients tracked one by one, the delivery_failed
flag and reminders."""

from __future__ import annotations

import pytest

from inkbridge.domain.events import EventType
from inkbridge.domain.lifecycle import EnvelopeSnapshot, Outcome, apply_event, replay
from tests.support.lifecycle_events import (
    DE,
    ENV,
    EX,
    SE,
    VW,
    E,
    R,
    apply_all,
    apply_to_new,
    at,
    delivery_failed,
    event,
    recipient_changed,
    state_changed,
)


def test_a_recipient_moves_sent_viewed_signed_with_one_event_each() -> None:
    results = apply_to_new(
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
