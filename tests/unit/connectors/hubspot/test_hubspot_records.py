"""The HubSpot connector writes deals, contacts, associations and tasks, and fails only the
changes HubSpot refuses; against the HubSpot emulator, in process over httpx.ASGITransport."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from inkbridge.connectors.hubspot.plan import HubSpotOptions
from inkbridge_emulators.hubspot import HubSpotEmulator
from inkbridge_emulators.hubspot_state import HubSpotRefusal

from ..payloads import (
    apply_sent_then_completed,
    envelope_change,
    first_touch,
    lead,
    lead_change,
    task_change,
)
from .support import OPTIONS, connector


async def test_an_envelope_lifecycle_upserts_one_deal_and_its_contact_and_associates_them(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    await apply_sent_then_completed(connector(client))

    (deal,) = hub.crm.records("deals")
    assert deal["inkbridge_envelope_id"] == "env_1"
    assert deal["inkbridge_status"] == "completed"
    assert deal["dealstage"] == "closedwon"
    assert deal["inkbridge_sent_at"] == "2024-05-01T09:00:00+00:00"
    assert deal["inkbridge_completed_at"] == "2024-05-01T10:00:00+00:00"
    assert deal["hubspot_owner_id"] == "101"
    assert deal["inkbridge_template"] == "nda"
    assert deal["inkbridge_first_touch_utm_source"] == "newsletter"
    (contact,) = hub.crm.records("contacts")
    assert contact["email"] == "ada@example.test"
    assert contact["firstname"] == "Ada"
    assert contact["inkbridge_lead_id"] == "lead_1"
    assert contact["inkbridge_first_touch_gclid"] == "g-123"
    links = [(a["from"], a["to"]) for a in hub.crm.associations()]
    assert links == [(["contacts", contact["hs_object_id"]], ["deals", deal["hs_object_id"]])]


async def test_envelopes_go_to_a_custom_object_when_configured(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    hubspot = connector(
        client, HubSpotOptions(envelope_object="p_inkbridge_envelopes", owners=OPTIONS.owners)
    )

    result = await hubspot.apply([envelope_change(1, "viewed")])

    assert result.results[0].ok
    (record,) = hub.crm.records("p_inkbridge_envelopes")
    assert record["inkbridge_status"] == "viewed"
    assert "dealname" not in record
    assert hub.crm.records("deals") == []


async def test_first_touch_already_in_hubspot_is_kept_while_the_owner_is_updated(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    hub.crm.seed(
        "contacts",
        {
            "email": "ada@example.test",
            "inkbridge_first_touch_utm_source": "partner",
            "hubspot_owner_id": "100",
        },
    )
    person = lead(owner="owner-8", touch=first_touch("newsletter"))

    result = await connector(client).apply([lead_change(1, person)])

    assert result.results[0].ok
    contact = hub.crm.record_by("contacts", "email", "ada@example.test")
    assert contact is not None
    assert contact["inkbridge_first_touch_utm_source"] == "partner"  # never overwritten
    assert contact["inkbridge_first_touch_utm_medium"] == "email"  # was empty: filled
    assert contact["hubspot_owner_id"] == "102"


async def test_first_touch_is_checked_on_the_envelope_record_too(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    hub.crm.seed("deals", {"inkbridge_envelope_id": "env_1", "inkbridge_first_touch_at": "x"})

    await connector(client).apply([envelope_change(1, "sent")])

    deal = hub.crm.record_by("deals", "inkbridge_envelope_id", "env_1")
    assert deal is not None
    assert deal["inkbridge_first_touch_at"] == "x"
    assert deal["inkbridge_status"] == "sent"


async def test_two_changes_for_one_contact_are_merged_into_one_input(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    result = await connector(client).apply(
        [
            lead_change(1, lead(owner="owner-7")),
            envelope_change(2, "sent", person=lead(owner="owner-8")),
        ]
    )

    assert [r.ok for r in result.results] == [True, True]
    (contact,) = hub.crm.records("contacts")
    assert contact["hubspot_owner_id"] == "102"  # the later change wins


async def test_a_task_is_created_once_even_when_a_retry_is_uncertain(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    hubspot = connector(client)

    first = await hubspot.apply([task_change(1, "task_1")])
    retry = await hubspot.apply([task_change(1, "task_1", uncertain=True)])

    assert first.results[0].ok and retry.results[0].ok
    (task,) = hub.crm.records("tasks")
    assert task["inkbridge_task_key"] == "task_1"
    assert task["hs_task_subject"] == "Call Ada: NDA signed"
    assert task["hubspot_owner_id"] == "101"
    contact = hub.crm.record_by("contacts", "email", "ada@example.test")
    assert contact is not None
    assert {
        "from": ["tasks", task["hs_object_id"]],
        "to": ["contacts", contact["hs_object_id"]],
    } in (hub.crm.associations())
    assert hub.by_route["search"] == 1  # only the uncertain attempt searched


async def test_an_uncertain_task_that_never_landed_is_created(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    result = await connector(client).apply([task_change(1, "task_9", uncertain=True)])

    assert result.results[0].ok
    assert [t["inkbridge_task_key"] for t in hub.crm.records("tasks")] == ["task_9"]


async def test_a_contact_hubspot_refuses_fails_alone_in_a_multi_status_answer(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    bad = lead("lead_2", "not-an-email")

    result = await connector(client).apply([lead_change(1), lead_change(2, bad)])

    assert result.results[0].ok
    assert result.results[1].ok is False and result.results[1].retryable is False
    assert "VALIDATION_ERROR" in (result.results[1].error or "")
    assert "not-an-email" not in (result.results[1].error or "")  # no personal data in reasons
    assert [c["email"] for c in hub.crm.records("contacts")] == ["ada@example.test"]


async def test_an_unmapped_owner_hubspot_refuses_fails_that_change_only(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    result = await connector(client).apply(
        [
            lead_change(1, lead("lead_1", owner="owner-7")),
            lead_change(2, lead("lead_2", "b@example.test", owner="someone")),
        ]
    )

    assert [r.ok for r in result.results] == [True, False]


async def test_a_whole_request_400_is_bisected_to_the_input_hubspot_refuses(
    client: httpx.AsyncClient, hub: HubSpotEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_upsert = hub.crm.upsert

    def strict_upsert(obj: str, inputs: Any) -> Any:
        if any(i["id"] == "poison@example.test" for i in inputs):
            raise HubSpotRefusal(400, "VALIDATION_ERROR", "Property values were not valid")
        return real_upsert(obj, inputs)

    monkeypatch.setattr(hub.crm, "upsert", strict_upsert)
    changes = [lead_change(i, lead(f"lead_{i}", f"p{i}@example.test")) for i in range(1, 5)]
    changes.insert(2, lead_change(9, lead("lead_9", "poison@example.test")))

    result = await connector(client).apply(changes)

    assert {r.outbox_id: r.ok for r in result.results} == {
        1: True,
        2: True,
        9: False,
        3: True,
        4: True,
    }
    assert len(hub.crm.records("contacts")) == 4


async def test_no_email_means_no_contact_and_the_change_fails_permanently(
    client: httpx.AsyncClient,
) -> None:
    result = await connector(client).apply([lead_change(1, lead(email=None))])

    assert result.results[0].ok is False and result.results[0].retryable is False


async def test_an_envelope_without_a_known_email_is_written_without_association(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    result = await connector(client).apply([envelope_change(1, "sent", person={})])

    assert result.results[0].ok
    assert len(hub.crm.records("deals")) == 1
    assert hub.crm.associations() == []


async def test_other_kinds_are_acknowledged_without_a_request(
    client: httpx.AsyncClient, hub: HubSpotEmulator
) -> None:
    change = envelope_change(1)
    other = type(change)(**{**change.__dict__, "kind": "recipient.status_changed"})

    result = await connector(client).apply([other])

    assert result.results[0].ok
    assert hub.state()["requests"]["requests_total"] == 0
