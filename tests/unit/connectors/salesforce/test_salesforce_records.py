"""The Salesforce connector writes leads (or contacts), envelope status records, consent
and tasks; against the Salesforce emulator, in process over httpx.ASGITransport."""

from __future__ import annotations

import httpx

from inkbridge.connectors.salesforce.connector import SalesforceConnector, SalesforceOptions
from inkbridge_emulators.salesforce import SalesforceEmulator

from ..payloads import (
    apply_sent_then_completed,
    consent_change,
    envelope_change,
    first_touch,
    lead,
    lead_change,
    task_change,
)
from .support import OPTIONS, USER_7, USER_8, jwt_auth, only


async def test_an_envelope_lifecycle_upserts_one_status_record_linked_to_its_lead(
    connector: SalesforceConnector, sf: SalesforceEmulator
) -> None:
    await apply_sent_then_completed(connector)

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
