"""The test mark: which leads are golive's (an address at example.invalid), the ``"test": true``
only their changes carry, how each destination kind receives it (the outbound webhook's body,
the sandbox CRM's ``inkbridge_test``, a CRM's canonical field ``test`` mapped only when told),
and ``golive_twin``: read from the file or the environment, any value but "sandbox" refused, and
a twinned destination's batch split between the vendor and the twin."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from inkbridge.config_sources import load_settings
from inkbridge.connectors.base import Change
from inkbridge.connectors.fields import canonical_fields, map_fields
from inkbridge.connectors.sandbox_crm.connector import record_properties
from inkbridge.connectors.twin import TwinnedConnector
from inkbridge.connectors.webhook.connector import message_body
from inkbridge.errors import ConfigError
from inkbridge.services.golive_mark import is_test_lead, marked
from tests.support.fakes import RecordingConnector
from tests.unit.connectors.payloads import lead, lead_change

TEST_EMAIL = "golive-ab12-sig-1@example.invalid"


def _test_change(outbox_id: int) -> Change:
    change = lead_change(outbox_id, lead(f"lead_t{outbox_id}", TEST_EMAIL))
    return dataclasses.replace(change, payload=marked(dict(change.payload)))


def _person_change(outbox_id: int) -> Change:
    change = lead_change(outbox_id, lead(f"lead_p{outbox_id}", "ada@example.com"))
    return dataclasses.replace(change, payload=marked(dict(change.payload)))


@pytest.mark.parametrize(
    ("person", "is_test"),
    [
        ({"email": TEST_EMAIL}, True),
        ({"email": "GOLIVE-1@EXAMPLE.INVALID"}, True),
        ({"email": "ada@example.com"}, False),
        ({"email": "ada@example.invalid.example.com"}, False),
        ({"email": "example.invalid"}, False),
        ({"email": None}, False),
        ({"id": "lead_1"}, False),
        (None, False),
        ("ada@example.invalid", False),
    ],
)
def test_a_test_lead_is_one_whose_address_is_at_example_invalid(
    person: object, is_test: bool
) -> None:
    assert is_test_lead(person) is is_test


def test_only_a_test_leads_change_carries_the_mark() -> None:
    person = {"lead": {"id": "lead_1", "email": "ada@example.com"}, "correlation_id": "c"}
    assert marked(person) is person
    assert "test" not in person
    test_lead = {"lead": {"id": "lead_2", "email": TEST_EMAIL}}
    assert marked(test_lead) == {**test_lead, "test": True}
    assert marked({"envelope": {"id": "env_1"}, "lead": None}) == {
        "envelope": {"id": "env_1"},
        "lead": None,
    }


def test_each_destination_kind_receives_the_mark_its_own_way() -> None:
    test_change, person_change = _test_change(1), _person_change(2)
    assert json.loads(message_body(test_change))["data"]["test"] is True
    assert "test" not in json.loads(message_body(person_change))["data"]
    assert record_properties(test_change)["inkbridge_test"] == "true"
    assert "inkbridge_test" not in record_properties(person_change)
    assert canonical_fields(test_change.record)["test"] == "true"
    assert "test" not in canonical_fields(person_change.record)


def test_a_crm_receives_the_mark_only_where_the_operator_maps_it() -> None:
    fields = canonical_fields(_test_change(1).record)
    defaults = {"email": "email", "lead_id": "inkbridge_lead_id"}
    assert "test" not in map_fields(fields, defaults, {}).values()
    assert (
        map_fields(fields, defaults, {"test": "inkbridge_test__c"})["inkbridge_test__c"] == "true"
    )


async def test_a_twinned_destination_sends_test_changes_to_the_twin_only() -> None:
    vendor, twin = RecordingConnector(name="vendor"), RecordingConnector(name="twin")
    changes = [_person_change(1), _test_change(2), _person_change(3), _test_change(4)]
    result = await TwinnedConnector(vendor, twin).apply(changes)
    assert [r.outbox_id for r in result.results] == [1, 2, 3, 4]
    assert all(r.ok for r in result.results)
    assert [w["record"] for w in vendor.writes] == ["lead:lead_p1", "lead:lead_p3"]
    assert [w["record"] for w in twin.writes] == ["lead:lead_t2", "lead:lead_t4"]


async def test_a_failing_twin_fails_only_the_test_changes() -> None:
    vendor, twin = RecordingConnector(name="vendor"), RecordingConnector(failures=["retry"])
    changes = [_person_change(1), _test_change(2)]
    result = await TwinnedConnector(vendor, twin).apply(changes)
    person, test_lead = result.results
    assert person.ok
    assert (test_lead.ok, test_lead.retryable) == (False, True)
    assert [w["record"] for w in vendor.writes] == ["lead:lead_p1"]


def test_golive_twin_is_read_from_the_environment_and_refuses_any_other_value(
    tmp_path: Path,
) -> None:
    environ = {"INKBRIDGE_DATA_DIR": str(tmp_path / "d")}
    twinned = {**environ, "INKBRIDGE_DESTINATIONS__CRM__GOLIVE_TWIN": "sandbox"}
    assert load_settings(None, environ=twinned).destinations["crm"].golive_twin == "sandbox"
    assert load_settings(None, environ=environ).destinations["crm"].golive_twin is None
    wrong = {**environ, "INKBRIDGE_DESTINATIONS__CRM__GOLIVE_TWIN": "production"}
    with pytest.raises(ConfigError, match=re.escape("destinations.crm.golive_twin")):
        load_settings(None, environ=wrong)
