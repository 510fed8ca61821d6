"""The Dynamics 365 connector against the Dataverse emulator, in process over
httpx.ASGITransport."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from inkbridge.config import DestinationSettings
from inkbridge.connectors.dynamics.batch import Operation, decode_batch, encode_batch
from inkbridge.connectors.dynamics.connector import (
    DynamicsAuth,
    DynamicsConnector,
    DynamicsOptions,
    from_settings,
)
from inkbridge.errors import ConfigError, PermanentError, RetryableError
from inkbridge_emulators.dynamics import DynamicsEmulator, create_dynamics_app
from tests.unit.connectors.faults import (
    DOWN,
    ERROR_500,
    RATE_LIMIT,
    assert_fault_is_retryable,
    assert_timeout_is_retryable,
)
from tests.unit.connectors.payloads import (
    AnswerLostOn,
    consent_change,
    envelope_change,
    first_touch,
    journey_change,
    lead,
    lead_change,
    task_change,
)

BASE = "http://dynamics.test"
TOKEN_URL = f"{BASE}/emulator-tenant/oauth2/v2.0/token"
USER_7 = "00000000-0000-0000-0000-000000000007"
USER_8 = "00000000-0000-0000-0000-000000000008"
OPTIONS = DynamicsOptions(owners={"owner-7": USER_7, "owner-8": USER_8})
ENVELOPES = "inkbridge_envelopestatuses"


@pytest.fixture
def app() -> Starlette:
    return create_dynamics_app(None)


@pytest.fixture
def dyn(app: Starlette) -> DynamicsEmulator:
    emulator: DynamicsEmulator = app.state.dynamics
    return emulator


def auth(client: httpx.AsyncClient, secret: str = "emulator-secret") -> DynamicsAuth:
    return DynamicsAuth(
        token_url=TOKEN_URL,
        client_id="emulator-app",
        client_secret=secret,
        scope=f"{BASE}/.default",
        client=client,
    )


def connector(
    client: httpx.AsyncClient, options: DynamicsOptions = OPTIONS, **kw: Any
) -> DynamicsConnector:
    return DynamicsConnector(
        name="dynamics",
        org_url=BASE,
        client=client,
        auth=kw.pop("token_source", None) or auth(client),
        options=options,
        **kw,
    )


def only(dyn: DynamicsEmulator, entity_set: str) -> dict[str, Any]:
    (row,) = dyn.dataverse.records(entity_set)
    return row


async def test_an_envelope_lifecycle_upserts_one_row_bound_to_its_contact(
    client: httpx.AsyncClient, dyn: DynamicsEmulator
) -> None:
    dynamics = connector(client)

    sent = await dynamics.apply([envelope_change(1, "sent")])
    done = await dynamics.apply([envelope_change(2, "completed")])

    assert [r.ok for r in [*sent.results, *done.results]] == [True, True]
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


async def test_journeys_are_left_to_the_marketing_tool(
    client: httpx.AsyncClient, dyn: DynamicsEmulator
) -> None:
    result = await connector(client).apply([journey_change(1)])

    assert result.results[0].ok
    assert dyn.state()["requests"]["requests_total"] == 0


# -- errors --------------------------------------------------------------------------------


async def test_a_refused_change_set_fails_alone_and_is_rolled_back(
    client: httpx.AsyncClient, dyn: DynamicsEmulator
) -> None:
    long_name = lead("lead_2", "b@example.test", first_name="A" * 60)
    changes = [
        envelope_change(1, envelope_id="env_1"),
        envelope_change(2, envelope_id="env_2", person=long_name),
        lead_change(3, lead("lead_3", "c@example.test")),
    ]

    result = await connector(client).apply(changes)

    assert [r.ok for r in result.results] == [True, False, True]
    assert result.results[1].retryable is False
    assert "0x80044331" in (result.results[1].error or "")
    envelopes = [r["inkbridge_envelopeid"] for r in dyn.dataverse.records(ENVELOPES)]
    assert envelopes == ["env_1"]  # env_2 shared the failed change set: rolled back


async def test_an_unknown_table_fails_its_changes_and_not_the_others(
    client: httpx.AsyncClient, dyn: DynamicsEmulator
) -> None:
    options = DynamicsOptions(owners=OPTIONS.owners, envelope_entity_set="missing_envelopes")

    result = await connector(client, options).apply(
        [envelope_change(1), lead_change(2, lead("lead_2", "b@example.test"))]
    )

    assert result.results[0].ok is False and result.results[0].retryable is False
    assert result.results[1].ok


async def test_service_protection_429_is_retryable_with_its_retry_after(
    client: httpx.AsyncClient, dyn: DynamicsEmulator
) -> None:
    dyn.window.set_limit(1)

    with pytest.raises(RetryableError) as caught:
        await connector(client).apply([lead_change(1)])

    assert "0x80072322" in caught.value.reason
    assert caught.value.retry_after is not None and 290 <= caught.value.retry_after <= 300


@pytest.mark.parametrize("fault", [RATE_LIMIT, ERROR_500, DOWN])
async def test_injected_faults_are_retryable(client: httpx.AsyncClient, fault: Any) -> None:
    await assert_fault_is_retryable(
        client, fault, lambda: connector(client).apply([task_change(1)])
    )


async def test_a_timeout_is_retryable(app: Starlette) -> None:
    await assert_timeout_is_retryable(
        app, BASE, "$batch", lambda c: lambda: connector(c).apply([task_change(1)])
    )


async def test_a_batch_whose_answer_was_lost_is_retried_without_duplicating_the_task(
    app: Starlette, client: httpx.AsyncClient, dyn: DynamicsEmulator
) -> None:
    lossy = AnswerLostOn(app, "$batch")
    async with httpx.AsyncClient(transport=lossy, base_url=BASE) as c:
        with pytest.raises(RetryableError):
            await connector(c).apply([task_change(1)])
        retry = await connector(c).apply([task_change(1, uncertain=True)])

    assert lossy.lost == 1
    assert retry.results[0].ok
    assert len(dyn.dataverse.records("tasks")) == 1


async def test_burst_remaining_is_exposed_in_meta(client: httpx.AsyncClient) -> None:
    result = await connector(client).apply([task_change(1)])

    assert result.meta["requests"] == 2  # the contact's first touch, then the $batch
    assert result.meta["burst_remaining"] == 5998


# -- auth ----------------------------------------------------------------------------------


async def test_the_token_is_cached_and_refreshed_once_after_a_401(
    client: httpx.AsyncClient, dyn: DynamicsEmulator
) -> None:
    token_source = auth(client)
    dynamics = connector(client, token_source=token_source)

    await dynamics.apply([task_change(1, "t1")])
    await dynamics.apply([task_change(2, "t2")])
    assert token_source.exchanges == 1
    await client.post("/_tokens/expire")
    result = await dynamics.apply([task_change(3, "t3")])

    assert result.results[0].ok
    assert token_source.exchanges == dyn.token_exchanges == 2


async def test_a_wrong_client_secret_is_permanent(client: httpx.AsyncClient) -> None:
    with pytest.raises(PermanentError) as caught:
        await connector(client, token_source=auth(client, "wrong")).apply([task_change(1)])

    assert "invalid_client" in caught.value.reason


# -- configuration -------------------------------------------------------------------------


async def test_from_settings_reads_credentials_and_options(
    client: httpx.AsyncClient, dyn: DynamicsEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DYN_SECRET", "emulator-secret")
    dest = DestinationSettings(
        kind="dynamics",
        url=BASE,
        credentials={"client_secret": "env:DYN_SECRET"},
        options={
            "tenant_id": "emulator-tenant",
            "client_id": "emulator-app",
            "token_url": TOKEN_URL,
            "owners": {"owner-7": USER_7},
        },
        batch_size=5000,
    )

    dynamics = from_settings("crm", dest, client)
    result = await dynamics.apply([envelope_change(1, "sent")])

    assert dynamics.max_batch == 300
    assert result.results[0].ok
    assert only(dyn, ENVELOPES)["inkbridge_status"] == "sent"


@pytest.mark.parametrize(
    "url,options",
    [
        (None, {"tenant_id": "t", "client_id": "c"}),
        (BASE, {"client_id": "c"}),
        (BASE, {"tenant_id": "t", "client_id": "c", "owners": {"owner-7": "not-a-guid"}}),
    ],
)
def test_from_settings_refuses_incomplete_config(
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    url: str | None,
    options: dict[str, Any],
) -> None:
    monkeypatch.setenv("X", "x")
    dest = DestinationSettings(
        kind="dynamics", url=url, credentials={"client_secret": "env:X"}, options=options
    )

    with pytest.raises(ConfigError):
        from_settings("crm", dest, client)


# -- the emulator and the wire format ------------------------------------------------------


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
