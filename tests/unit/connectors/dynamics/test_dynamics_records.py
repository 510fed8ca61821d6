"""The Dynamics 365 connector writes contacts, envelope rows, consent and tasks, and the
Dataverse emulator speaks OData $batch as Dataverse does; in process over httpx.ASGITransport."""

from __future__ import annotations

import httpx

from inkbridge.connectors.dynamics.batch import Operation, decode_batch, encode_batch
from inkbridge.connectors.dynamics.connector import DynamicsOptions
from inkbridge_emulators.dynamics import DynamicsEmulator

from ..payloads import (
    apply_sent_then_completed,
    consent_change,
    envelope_change,
    first_touch,
    lead,
    lead_change,
    task_change,
)
from .support import BASE, ENVELOPES, OPTIONS, USER_7, USER_8, auth, connector, only


async def test_an_envelope_lifecycle_upserts_one_row_bound_to_its_contact(
    client: httpx.AsyncClient, dyn: DynamicsEmulator
) -> None:
    await apply_sent_then_completed(connector(client))

    contact = only(dyn, "contacts")
    assert contact["inkbridge_leadid"] == "lead_1"
    assert contact["emailaddress1"] == "ada@example.test"
    assert contact["lastname"] == "Lovelace"
    assert contact["_ownerid_value"] == USER_7
    assert contact["inkbridge_firsttouch_utmsource"] == "newsletter"
    row = only(dyn, ENVELOPES)
    assert row["inkbridge_envelopeid"] == "env_1"
    assert row["inkbridge_status"] == "completed"
    assert row["inkbridge_sentat"] == "2024-05-01T09:00:00+00:00"
    assert row["inkbridge_completedat"] == "2024-05-01T10:00:00+00:00"
    assert row["inkbridge_deliveryfailed"] is False
    assert row["_inkbridge_contact_value"] == contact["contactid"]
    assert dyn.batches == 2


async def test_first_touch_already_in_dataverse_is_kept_while_the_owner_is_updated(
    client: httpx.AsyncClient, dyn: DynamicsEmulator
) -> None:
    dyn.dataverse.seed(
        "contacts",
        {
            "inkbridge_leadid": "lead_1",
            "inkbridge_firsttouch_utmsource": "partner",
            "_ownerid_value": USER_7,
        },
    )

    result = await connector(client).apply(
        [lead_change(1, lead(owner="owner-8", touch=first_touch("tv")))]
    )

    assert result.results[0].ok
    contact = only(dyn, "contacts")
    assert contact["inkbridge_firsttouch_utmsource"] == "partner"
    assert contact["inkbridge_firsttouch_utmmedium"] == "email"
    assert contact["_ownerid_value"] == USER_8
    assert result.meta["requests"] == 2  # one GET for the existing values, one $batch


async def test_first_touch_is_checked_on_the_envelope_row_too(
    client: httpx.AsyncClient, dyn: DynamicsEmulator
) -> None:
    dyn.dataverse.seed(ENVELOPES, {"inkbridge_envelopeid": "env_1", "inkbridge_firsttouchat": "x"})

    await connector(client).apply([envelope_change(1, "sent")])

    row = only(dyn, ENVELOPES)
    assert row["inkbridge_firsttouchat"] == "x"
    assert row["inkbridge_status"] == "sent"


async def test_consent_sets_the_bulk_email_flag_and_leaves_donotemail_alone(
    client: httpx.AsyncClient, dyn: DynamicsEmulator
) -> None:
    dynamics = connector(client)

    await dynamics.apply([consent_change(1, {"marketing_email": "granted"})])
    assert only(dyn, "contacts")["donotbulkemail"] is False
    await dynamics.apply(
        [consent_change(2, {"marketing_email": "withdrawn", "marketing_phone": "denied"})]
    )

    contact = only(dyn, "contacts")
    assert contact["donotbulkemail"] is True
    assert contact["donotphone"] is True
    assert "donotemail" not in contact
    assert contact["inkbridge_marketingallowed"] is False


async def test_donotemail_follows_withdrawal_when_configured(
    client: httpx.AsyncClient, dyn: DynamicsEmulator
) -> None:
    options = DynamicsOptions(owners=OPTIONS.owners, donotemail_on_withdrawal=True)

    await connector(client, options).apply([consent_change(1, {"marketing_email": "denied"})])

    assert dyn.state()["consents"] == [
        {"inkbridge_leadid": "lead_1", "donotemail": True, "donotbulkemail": True}
    ]


async def test_a_task_is_created_once_even_when_a_retry_is_uncertain(
    client: httpx.AsyncClient, dyn: DynamicsEmulator
) -> None:
    dynamics = connector(client)

    first = await dynamics.apply([task_change(1, "task_1")])
    task_id = only(dyn, "tasks")["activityid"]
    found = dyn.dataverse.find("tasks", "inkbridge_taskkey", "task_1")
    assert found is not None
    dyn.dataverse.rows.put("tasks", task_id, {**found[1], "statecode": 1})  # the owner closed it
    retry = await dynamics.apply([task_change(1, "task_1", uncertain=True)])

    assert first.results[0].ok and retry.results[0].ok
    task = only(dyn, "tasks")
    assert task["subject"] == "Call Ada: NDA signed"
    assert task["scheduledend"] == "2024-05-02T09:00:00+00:00"
    assert task["_ownerid_value"] == USER_7
    assert task["_regardingobjectid_value"] == only(dyn, "contacts")["contactid"]
    assert task["statecode"] == 1  # create-only: the retry did not touch it


async def _token(client: httpx.AsyncClient) -> str:
    return await auth(client).token()


async def test_the_emulator_refuses_a_batch_of_more_than_1000_requests(
    client: httpx.AsyncClient, dyn: DynamicsEmulator
) -> None:
    ops = [
        Operation(
            "PATCH", f"{BASE}/api/data/v9.2/tasks(inkbridge_taskkey='t{i}')", {"subject": "s"}
        )
        for i in range(1001)
    ]
    content_type, body = encode_batch([ops])

    response = await client.post(
        "/api/data/v9.2/$batch",
        content=body,
        headers={"Content-Type": content_type, "Authorization": f"Bearer {await _token(client)}"},
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "0x8006088a"
    assert dyn.dataverse.records("tasks") == []


async def test_without_continue_on_error_the_batch_stops_at_the_first_failure(
    client: httpx.AsyncClient, dyn: DynamicsEmulator
) -> None:
    task = f"{BASE}/api/data/v9.2/tasks(inkbridge_taskkey='t1')"
    bad = Operation("PATCH", f"{BASE}/api/data/v9.2/nowhere(k='v')", {"a": 1})
    content_type, body = encode_batch([[bad], [Operation("PATCH", task, {"subject": "s"})]])

    response = await client.post(
        "/api/data/v9.2/$batch",
        content=body,
        headers={"Content-Type": content_type, "Authorization": f"Bearer {await _token(client)}"},
    )

    groups = decode_batch(response.headers["content-type"], response.content)
    assert [[r.status for r in group] for group in groups] == [[404]]
    assert groups[0][0].error_code == "0x80060888"
    assert dyn.dataverse.records("tasks") == []


async def test_alternate_key_values_with_quotes_survive_the_round_trip(
    client: httpx.AsyncClient, dyn: DynamicsEmulator
) -> None:
    result = await connector(client).apply([lead_change(1, lead("o'brien/1", "o@example.test"))])

    assert result.results[0].ok
    assert only(dyn, "contacts")["inkbridge_leadid"] == "o'brien/1"
