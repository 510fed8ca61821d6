"""The short event names a sender mapping may use, read back to their event types."""

from __future__ import annotations

import pytest

from inkbridge.domain.events import SHORT_NAMES, EventType, event_type_named


@pytest.mark.parametrize(
    ("short", "expected"),
    [
        ("sent", EventType.DOCUMENT_SENT),
        ("viewed", EventType.DOCUMENT_VIEWED),
        ("signed", EventType.RECIPIENT_SIGNED),
        ("completed", EventType.DOCUMENT_COMPLETED),
        ("declined", EventType.DOCUMENT_DECLINED),
        ("voided", EventType.DOCUMENT_VOIDED),
        ("expired", EventType.DOCUMENT_EXPIRED),
        ("delivery_failed", EventType.DOCUMENT_DELIVERY_FAILED),
        ("reminder_sent", EventType.REMINDER_SENT),
    ],
)
def test_a_short_name_reads_as_its_event_type(short: str, expected: EventType) -> None:
    assert event_type_named(short) is expected


def test_every_event_type_has_exactly_one_short_name() -> None:
    assert sorted(SHORT_NAMES.values()) == sorted(EventType)


def test_a_full_name_reads_as_itself_and_an_unknown_name_as_none() -> None:
    assert event_type_named("recipient_signed") is EventType.RECIPIENT_SIGNED
    assert event_type_named("document_signed") is None
    assert event_type_named("finished") is None
