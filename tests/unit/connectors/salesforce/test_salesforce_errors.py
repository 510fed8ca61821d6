"""Salesforce's errors and limits: what the connector retries, fails alone or reports, and
the emulator's own limits and all-or-none rollback."""

from __future__ import annotations

import httpx
import pytest

from inkbridge.connectors.salesforce.connector import SalesforceConnector, SalesforceOptions
from inkbridge.errors import RetryableError
from inkbridge_emulators.salesforce import SalesforceEmulator

from ..payloads import envelope_change, lead, lead_change
from .support import OPTIONS, jwt_auth


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


async def test_api_usage_is_exposed_in_meta(connector: SalesforceConnector) -> None:
    result = await connector.apply([envelope_change(1)])

    assert result.meta["requests"] == 3  # query leads, upsert leads, upsert envelopes
    assert result.meta["api_used"] == 3
    assert result.meta["api_limit"] == 15_000


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
