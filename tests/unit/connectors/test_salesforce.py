"""The Salesforce connector against the Salesforce emulator, in process over httpx.ASGITransport."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from inkbridge.config import DestinationSettings
from inkbridge.connectors.salesforce.connector import (
    SalesforceClientCredentials,
    SalesforceConnector,
    SalesforceJwtAuth,
    SalesforceOptions,
    from_settings,
    soql_quote,
)
from inkbridge.errors import ConfigError, PermanentError, RetryableError
from inkbridge_emulators.salesforce import SalesforceEmulator, create_salesforce_app
from tests.support.keys import rsa_pem
from tests.unit.connectors.faults import (
    DOWN,
    ERROR_500,
    Apply,
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

BASE = "http://salesforce.test"
CLIENT_ID = "emulator-connected-app"
USERNAME = "integration@inkbridge.example"
USER_7 = "005000000000007AAA"
USER_8 = "005000000000008AAA"
OPTIONS = SalesforceOptions(owners={"owner-7": USER_7, "owner-8": USER_8})


@pytest.fixture(scope="module")
def key_pair() -> tuple[str, str]:
    return rsa_pem()


@pytest.fixture
def app(key_pair: tuple[str, str]) -> Starlette:
    return create_salesforce_app(None, public_key_pem=key_pair[1])


@pytest.fixture
def sf(app: Starlette) -> SalesforceEmulator:
    emulator: SalesforceEmulator = app.state.salesforce
    return emulator


def jwt_auth(client: httpx.AsyncClient, key_pair: tuple[str, str], **kw: Any) -> SalesforceJwtAuth:
    return SalesforceJwtAuth(
        client_id=CLIENT_ID,
        username=kw.pop("username", USERNAME),
        private_key_pem=key_pair[0],
        login_url=BASE,
        client=client,
        **kw,
    )


@pytest.fixture
def connector(client: httpx.AsyncClient, key_pair: tuple[str, str]) -> SalesforceConnector:
    return SalesforceConnector(
        name="salesforce", client=client, auth=jwt_auth(client, key_pair), options=OPTIONS
    )


def only(sf: SalesforceEmulator, sobject: str) -> dict[str, Any]:
    (record,) = sf.org.records(sobject)
    return record


async def test_an_envelope_lifecycle_upserts_one_status_record_linked_to_its_lead(
    connector: SalesforceConnector, sf: SalesforceEmulator
) -> None:
    sent = await connector.apply([envelope_change(1, "sent")])
    done = await connector.apply([envelope_change(2, "completed")])

    assert [r.ok for r in [*sent.results, *done.results]] == [True, True]
    person = only(sf, "Lead")
    assert person["Inkbridge_Lead_Id__c"] == "lead_1"
    assert person["Email"] == "ada@example.test"
    assert person["Company"] == "Analytical Engines Ltd"
    assert person["Inkbridge_First_Touch_Utm_Source__c"] == "newsletter"
    assert person["OwnerId"] == USER_7
    status = only(sf, "Inkbridge_Envelope__c")
    assert status["Inkbridge_Envelope_Id__c"] == "env_1"
    assert status["Envelope_Status__c"] == "completed"
    assert status["Sent_Date_Time__c"] == "2024-05-01T09:00:00+00:00"
    assert status["Completed_Date_Time__c"] == "2024-05-01T10:00:00+00:00"
    assert status["Delivery_Failed__c"] is False
    assert status["Lead__c"] == person["Id"]


async def test_first_touch_already_in_salesforce_is_kept_while_the_owner_is_updated(
    connector: SalesforceConnector, sf: SalesforceEmulator
) -> None:
    sf.org.seed(
        "Lead",
        {
            "Inkbridge_Lead_Id__c": "lead_1",
            "LastName": "Lovelace",
            "Company": "AE",
            "Inkbridge_First_Touch_Utm_Source__c": "partner",
            "OwnerId": USER_7,
        },
    )

    result = await connector.apply([lead_change(1, lead(owner="owner-8", touch=first_touch("tv")))])

    assert result.results[0].ok
    person = only(sf, "Lead")
    assert person["Inkbridge_First_Touch_Utm_Source__c"] == "partner"
    assert person["Inkbridge_First_Touch_Utm_Medium__c"] == "email"
    assert person["OwnerId"] == USER_8
    assert sf.by_route["query"] == 1  # one SOQL query for the whole batch


async def test_a_new_lead_without_name_or_company_gets_salesforces_placeholder(
    connector: SalesforceConnector, sf: SalesforceEmulator
) -> None:
    sf.org.seed("Lead", {"Inkbridge_Lead_Id__c": "lead_2", "LastName": "Known", "Company": "Co"})
    bare = {"last_name": None, "company": None}

    result = await connector.apply(
        [
            lead_change(1, lead("lead_1", **bare)),
            lead_change(2, lead("lead_2", "b@example.test", **bare)),
        ]
    )

    assert [r.ok for r in result.results] == [True, True]
    by_key = {r["Inkbridge_Lead_Id__c"]: r for r in sf.org.records("Lead")}
    assert by_key["lead_1"]["LastName"] == "[not provided]"
    assert by_key["lead_1"]["Company"] == "[not provided]"
    assert by_key["lead_2"]["LastName"] == "Known"  # an existing lead keeps its name


async def test_consent_is_an_individual_with_contact_point_type_consents(
    connector: SalesforceConnector, sf: SalesforceEmulator
) -> None:
    granted = await connector.apply([consent_change(1, {"marketing_email": "granted"})])
    withdrawn = await connector.apply(
        [consent_change(2, {"marketing_email": "withdrawn", "marketing_phone": "granted"})]
    )

    assert granted.results[0].ok and withdrawn.results[0].ok
    individual = only(sf, "Individual")
    person = only(sf, "Lead")
    assert person["IndividualId"] == individual["Id"]
    assert person["HasOptedOutOfEmail"] is True
    consents = {c["ContactPointType"]: c for c in sf.org.records("ContactPointTypeConsent")}
    assert consents["Email"]["PrivacyConsentStatus"] == "OptOut"
    assert consents["Phone"]["PrivacyConsentStatus"] == "OptIn"
    assert {c["PartyId"] for c in consents.values()} == {individual["Id"]}
    assert consents["Email"]["EffectiveFrom"] == "2024-05-01T10:00:00+00:00"


async def test_granted_email_consent_clears_the_opt_out(
    connector: SalesforceConnector, sf: SalesforceEmulator
) -> None:
    await connector.apply([consent_change(1, {"marketing_email": "granted"})])

    assert only(sf, "Lead")["HasOptedOutOfEmail"] is False
    assert only(sf, "ContactPointTypeConsent")["PrivacyConsentStatus"] == "OptIn"


async def test_a_task_is_created_once_even_when_a_retry_is_uncertain(
    connector: SalesforceConnector, sf: SalesforceEmulator
) -> None:
    first = await connector.apply([task_change(1, "task_1")])
    retry = await connector.apply([task_change(1, "task_1", uncertain=True)])

    assert first.results[0].ok and retry.results[0].ok
    task = only(sf, "Task")
    assert task["Inkbridge_Task_Key__c"] == "task_1"
    assert task["Subject"] == "Call Ada: NDA signed"
    assert task["ActivityDate"] == "2024-05-02"
    assert task["OwnerId"] == USER_7
    assert task["WhoId"] == only(sf, "Lead")["Id"]
    assert task["Status"] == "Not Started"


async def test_a_task_retry_does_not_reopen_a_task_the_owner_completed(
    connector: SalesforceConnector, sf: SalesforceEmulator
) -> None:
    await connector.apply([task_change(1, "task_1")])
    found = sf.org.find("Task", "Inkbridge_Task_Key__c", "task_1")
    assert found is not None
    sf.org.table.put("Task", found[0], {**found[1], "Status": "Completed"})

    await connector.apply([task_change(1, "task_1", uncertain=True)])

    assert only(sf, "Task")["Status"] == "Completed"


async def test_a_task_whose_answer_was_lost_is_upserted_not_duplicated(
    app: Starlette, key_pair: tuple[str, str], sf: SalesforceEmulator
) -> None:
    lossy = AnswerLostOn(app, "/composite/sobjects/Task/")
    async with httpx.AsyncClient(transport=lossy, base_url=BASE) as c:
        connector = SalesforceConnector(
            name="salesforce", client=c, auth=jwt_auth(c, key_pair), options=OPTIONS
        )
        with pytest.raises(RetryableError):
            await connector.apply([task_change(1)])
        retry = await connector.apply([task_change(1, uncertain=True)])

    assert lossy.lost == 1
    assert retry.results[0].ok
    assert len(sf.org.records("Task")) == 1


async def test_first_touch_on_the_envelope_record_is_opt_in_and_kept(
    client: httpx.AsyncClient, key_pair: tuple[str, str], sf: SalesforceEmulator
) -> None:
    sf.org.seed(
        "Inkbridge_Envelope__c",
        {"Inkbridge_Envelope_Id__c": "env_1", "First_Touch_Source__c": "partner"},
    )
    connector = SalesforceConnector(
        name="salesforce",
        client=client,
        auth=jwt_auth(client, key_pair),
        options=OPTIONS,
        field_overrides={
            "envelope.first_touch_utm_source": "First_Touch_Source__c",
            "envelope.first_touch_utm_medium": "First_Touch_Medium__c",
        },
    )

    result = await connector.apply([envelope_change(1, "sent")])

    assert result.results[0].ok
    record = only(sf, "Inkbridge_Envelope__c")
    assert record["First_Touch_Source__c"] == "partner"
    assert record["First_Touch_Medium__c"] == "email"
    assert sf.by_route["query"] == 2  # the Lead's and the envelope record's current values


async def test_journeys_are_left_to_the_marketing_tool(
    connector: SalesforceConnector, sf: SalesforceEmulator
) -> None:
    result = await connector.apply([journey_change(1)])

    assert result.results[0].ok
    assert sf.state()["requests"]["requests_total"] == 0


async def test_children_of_one_lead_are_sent_together(
    client: httpx.AsyncClient, key_pair: tuple[str, str], sf: SalesforceEmulator
) -> None:
    connector = SalesforceConnector(
        name="salesforce",
        client=client,
        auth=jwt_auth(client, key_pair),
        options=OPTIONS,
        max_batch=2,
    )
    a, b = lead("lead_a", "a@example.test"), lead("lead_b", "b@example.test")
    changes = [
        envelope_change(1, envelope_id="env_1", person=a),
        envelope_change(2, envelope_id="env_2", person=b),
        envelope_change(3, envelope_id="env_3", person=a),
        envelope_change(4, envelope_id="env_4", person=b),
    ]

    result = await connector.apply(changes)

    assert all(r.ok for r in result.results)
    order = [r["Inkbridge_Envelope_Id__c"] for r in sf.org.records("Inkbridge_Envelope__c")]
    assert order == ["env_1", "env_3", "env_2", "env_4"]  # lead_a's two, then lead_b's two


async def test_contacts_replace_leads_when_configured(
    client: httpx.AsyncClient, key_pair: tuple[str, str], sf: SalesforceEmulator
) -> None:
    options = SalesforceOptions(person_object="Contact", owners=OPTIONS.owners)
    connector = SalesforceConnector(
        name="salesforce", client=client, auth=jwt_auth(client, key_pair), options=options
    )

    result = await connector.apply([envelope_change(1), task_change(2)])

    assert [r.ok for r in result.results] == [True, True]
    person = only(sf, "Contact")
    assert "Company" not in person
    assert only(sf, "Inkbridge_Envelope__c")["Contact__c"] == person["Id"]
    assert only(sf, "Task")["WhoId"] == person["Id"]
    assert sf.org.records("Lead") == []


# -- errors --------------------------------------------------------------------------------


async def test_a_locked_row_is_retryable_for_that_record_only(
    connector: SalesforceConnector, sf: SalesforceEmulator, client: httpx.AsyncClient
) -> None:
    await client.post("/_faults", json={"lock_record": "env_2", "lock_count": 1})
    changes = [envelope_change(1, envelope_id="env_1"), envelope_change(2, envelope_id="env_2")]

    first = await connector.apply(changes)
    retry = await connector.apply([envelope_change(2, envelope_id="env_2", uncertain=True)])

    assert first.results[0].ok
    assert first.results[1].ok is False and first.results[1].retryable is True
    assert "UNABLE_TO_LOCK_ROW" in (first.results[1].error or "")
    assert retry.results[0].ok
    assert len(sf.org.records("Inkbridge_Envelope__c")) == 2


async def test_a_record_salesforce_refuses_fails_alone_and_permanently(
    connector: SalesforceConnector, sf: SalesforceEmulator
) -> None:
    result = await connector.apply([lead_change(1), lead_change(2, lead("lead_2", "not-an-email"))])

    assert result.results[0].ok
    assert result.results[1].ok is False and result.results[1].retryable is False
    assert "INVALID_EMAIL_ADDRESS" in (result.results[1].error or "")
    assert "not-an-email" not in (result.results[1].error or "")


async def test_an_envelope_whose_lead_failed_is_not_written(
    connector: SalesforceConnector, sf: SalesforceEmulator
) -> None:
    result = await connector.apply([envelope_change(1, person=lead(owner="nobody"))])

    assert result.results[0].ok is False
    assert "MALFORMED_ID" in (result.results[0].error or "")
    assert sf.org.records("Inkbridge_Envelope__c") == []


async def test_an_unknown_object_fails_its_changes_and_not_the_others(
    client: httpx.AsyncClient, key_pair: tuple[str, str]
) -> None:
    options = SalesforceOptions(envelope_object="Missing__c", owners=OPTIONS.owners)
    connector = SalesforceConnector(
        name="salesforce", client=client, auth=jwt_auth(client, key_pair), options=options
    )

    result = await connector.apply(
        [envelope_change(1), lead_change(2, lead("lead_2", "b@example.test"))]
    )

    assert result.results[0].ok is False and result.results[0].retryable is False
    assert result.results[1].ok


async def test_the_daily_quota_is_retryable_after_a_long_wait(
    connector: SalesforceConnector, sf: SalesforceEmulator
) -> None:
    sf.window.set_limit(1)

    with pytest.raises(RetryableError) as caught:
        await connector.apply([lead_change(1)])

    assert "REQUEST_LIMIT_EXCEEDED" in caught.value.reason
    assert caught.value.retry_after == 3600.0


async def test_an_injected_limit_honours_retry_after(
    connector: SalesforceConnector, client: httpx.AsyncClient
) -> None:
    await client.post("/_faults", json={"mode": "rate_limit", "count": 1, "retry_after": 120})

    with pytest.raises(RetryableError) as caught:
        await connector.apply([lead_change(1)])

    assert caught.value.retry_after == 120.0


@pytest.mark.parametrize("fault", [ERROR_500, DOWN])
async def test_server_errors_are_retryable(
    connector: SalesforceConnector, client: httpx.AsyncClient, fault: Any
) -> None:
    await assert_fault_is_retryable(client, fault, lambda: connector.apply([lead_change(1)]))


async def test_a_timeout_is_retryable(app: Starlette, key_pair: tuple[str, str]) -> None:
    def apply(c: httpx.AsyncClient) -> Apply:
        connector = SalesforceConnector(name="salesforce", client=c, auth=jwt_auth(c, key_pair))
        return lambda: connector.apply([lead_change(1)])

    await assert_timeout_is_retryable(app, BASE, "/composite/", apply)


async def test_api_usage_is_exposed_in_meta(connector: SalesforceConnector) -> None:
    result = await connector.apply([envelope_change(1)])

    assert result.meta["requests"] == 3  # query leads, upsert leads, upsert envelopes
    assert result.meta["api_used"] == 3
    assert result.meta["api_limit"] == 15_000


# -- auth ----------------------------------------------------------------------------------


async def test_the_session_is_cached_and_refreshed_once_after_invalid_session_id(
    client: httpx.AsyncClient, key_pair: tuple[str, str], sf: SalesforceEmulator
) -> None:
    auth = jwt_auth(client, key_pair)
    connector = SalesforceConnector(name="salesforce", client=client, auth=auth, options=OPTIONS)

    await connector.apply([lead_change(1)])
    await connector.apply([lead_change(2)])
    assert auth.exchanges == 1
    await client.post("/_sessions/expire")
    result = await connector.apply([lead_change(3)])

    assert result.results[0].ok
    assert auth.exchanges == sf.token_exchanges == 2


async def test_a_jwt_for_an_unknown_user_is_permanent(
    client: httpx.AsyncClient, key_pair: tuple[str, str]
) -> None:
    auth = jwt_auth(client, key_pair, username="someone@else.example")
    connector = SalesforceConnector(name="salesforce", client=client, auth=auth)

    with pytest.raises(PermanentError) as caught:
        await connector.apply([lead_change(1)])

    assert "invalid_grant" in caught.value.reason


async def test_client_credentials_work_too(
    client: httpx.AsyncClient, sf: SalesforceEmulator
) -> None:
    auth = SalesforceClientCredentials(
        client_id=CLIENT_ID, client_secret="emulator-secret", login_url=BASE, client=client
    )
    connector = SalesforceConnector(name="salesforce", client=client, auth=auth, options=OPTIONS)

    result = await connector.apply([lead_change(1)])

    assert result.results[0].ok
    assert sf.token_exchanges == 1


# -- configuration -------------------------------------------------------------------------


async def test_from_settings_builds_the_jwt_flow(
    client: httpx.AsyncClient,
    key_pair: tuple[str, str],
    sf: SalesforceEmulator,
    tmp_path: Any,
) -> None:
    key_file = tmp_path / "sf.pem"
    key_file.write_text(key_pair[0])
    dest = DestinationSettings(
        kind="salesforce",
        credentials={"private_key": f"file:{key_file}"},
        options={
            "client_id": CLIENT_ID,
            "username": USERNAME,
            "login_url": BASE,
            "owners": {"owner-7": USER_7},
        },
        fields={"envelope_status": "Status__c"},
        batch_size=1000,
    )

    connector = from_settings("crm", dest, client)
    result = await connector.apply([envelope_change(1, "sent")])

    assert connector.max_batch == 200
    assert result.results[0].ok
    assert only(sf, "Inkbridge_Envelope__c")["Status__c"] == "sent"


@pytest.mark.parametrize(
    "credentials,options",
    [
        ({}, {"client_id": "x"}),
        ({"client_secret": "env:X"}, {"client_id": "x"}),  # client credentials need My Domain
        ({"private_key": "env:X"}, {"client_id": "x"}),  # JWT needs a username
        (
            {"client_secret": "env:X"},
            {
                "client_id": "x",
                "login_url": "https://a.my.salesforce.com",
                "person_object": "Account",
            },
        ),
    ],
)
def test_from_settings_refuses_incomplete_config(
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    credentials: dict[str, str],
    options: dict[str, Any],
) -> None:
    monkeypatch.setenv("X", "x")
    dest = DestinationSettings(kind="salesforce", credentials=credentials, options=options)

    with pytest.raises(ConfigError):
        from_settings("crm", dest, client)


def test_soql_literals_cannot_break_out_of_the_query() -> None:
    assert soql_quote("o'brien\\") == "'o\\'brien\\\\'"


# -- the emulator --------------------------------------------------------------------------


async def test_the_emulator_refuses_more_than_200_records(
    client: httpx.AsyncClient, connector: SalesforceConnector, sf: SalesforceEmulator
) -> None:
    session = await connector._auth.session()
    records = [
        {"attributes": {"type": "Task"}, "Inkbridge_Task_Key__c": f"t{i}"} for i in range(201)
    ]

    response = await client.patch(
        "/services/data/v60.0/composite/sobjects/Task/Inkbridge_Task_Key__c",
        json={"allOrNone": False, "records": records},
        headers={"Authorization": f"Bearer {session.access_token}"},
    )

    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert response.headers["sforce-limit-info"].startswith("api-usage=")
    assert sf.org.records("Task") == []


async def test_the_emulator_rolls_back_all_or_none_requests(
    client: httpx.AsyncClient, connector: SalesforceConnector, sf: SalesforceEmulator
) -> None:
    session = await connector._auth.session()
    records = [
        {
            "attributes": {"type": "Lead"},
            "Inkbridge_Lead_Id__c": "ok",
            "LastName": "A",
            "Company": "B",
        },
        {"attributes": {"type": "Lead"}, "Inkbridge_Lead_Id__c": "bad", "LastName": "A"},
    ]

    response = await client.patch(
        "/services/data/v60.0/composite/sobjects/Lead/Inkbridge_Lead_Id__c",
        json={"allOrNone": True, "records": records},
        headers={"Authorization": f"Bearer {session.access_token}"},
    )

    codes = [r["errors"][0]["statusCode"] for r in response.json()]
    assert codes == ["ALL_OR_NONE_OPERATION_ROLLED_BACK", "REQUIRED_FIELD_MISSING"]
    assert sf.org.records("Lead") == []
