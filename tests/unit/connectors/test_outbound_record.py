"""The typed view connectors read: an outbox payload (stored JSON, format unchanged) becomes one
frozen ``OutboundRecord`` with the envelope, lead, first touch, consent, journey and task as
attributes, and the flat canonical fields are derived from it."""

from __future__ import annotations

import dataclasses

import pytest

from inkbridge.connectors.fields import canonical_fields
from inkbridge.connectors.outbound import OutboundRecord
from tests.unit.connectors.payloads import (
    envelope_change,
    journey_change,
    lead,
    lead_change,
    task_change,
)


def test_an_envelope_change_reads_as_typed_fields() -> None:
    record = envelope_change(1, "completed").record

    assert record.correlation_id == "cor_1"
    assert record.envelope.id == "env_1"
    assert record.envelope.state == "completed"
    assert record.envelope.template_version == "2"
    assert record.envelope.delivery_failed == "false"
    assert record.envelope.milestones["completed_at"] == "2024-05-01T10:00:00+00:00"
    assert record.lead is not None and record.lead.email == "ada@example.test"
    assert record.lead.first_touch.utm == {
        "utm_source": "newsletter",
        "utm_medium": "email",
        "utm_campaign": "spring",
        "utm_content": "hero",
    }
    assert record.lead.first_touch.click_ids == {"gclid": "g-123"}
    assert record.lead.consent == {"contract_execution": "granted"}
    assert record.occurred_at == "2024-05-01T10:00:00+00:00"


def test_the_record_is_frozen_and_read_once_per_change() -> None:
    change = lead_change(1)

    assert change.record is change.record
    with pytest.raises(dataclasses.FrozenInstanceError):
        change.record.lead = None  # type: ignore[misc]


def test_a_journey_and_a_task_are_attributes_not_nested_mappings() -> None:
    journey = journey_change(1, "nurture").record
    task = task_change(2, "task_9", owner="owner-3").record.task

    assert journey.journey == "nurture"
    assert journey.marketing_allowed is True
    assert (task.key, task.owner, task.due_at) == ("task_9", "owner-3", "2024-05-02T09:00:00+00:00")


def test_marketing_permission_falls_back_to_consent_when_the_lead_has_no_flag() -> None:
    granted = lead(consent={"marketing_email": "granted"})
    del granted["marketing_allowed"]
    withdrawn = lead(consent={"marketing_email": "granted"}, marketing_allowed=False)

    assert OutboundRecord.from_payload({"lead": granted}).marketing_allowed is True
    assert OutboundRecord.from_payload({"lead": withdrawn}).marketing_allowed is False
    assert OutboundRecord.from_payload({}).marketing_allowed is False


def test_missing_or_mistyped_parts_read_as_empty() -> None:
    record = OutboundRecord.from_payload(
        {"envelope": "not an object", "lead": None, "task": [1], "journey": 7}
    )

    assert record.envelope.id is None and record.envelope.milestones == {}
    assert record.lead is None
    assert record.task.key == "" and record.journey == ""
    assert canonical_fields(record) == {}


def test_canonical_fields_flatten_the_record_with_first_touch_and_consent() -> None:
    fields = canonical_fields(envelope_change(1, "completed").record)

    assert fields["envelope_id"] == "env_1"
    assert fields["envelope_status"] == "completed"
    assert fields["lead_id"] == "lead_1"
    assert fields["completed_at"] == "2024-05-01T10:00:00+00:00"
    assert fields["first_touch_utm_source"] == "newsletter"
    assert fields["first_touch_gclid"] == "g-123"
    assert fields["first_touch_at"] == "2024-04-30T08:00:00+00:00"
    assert fields["consent_contract_execution"] == "granted"
    assert fields["marketing_allowed"] == "false"
    assert "first_touch_utm_term" not in fields  # None is left out, never sent empty
