"""What every CRM connector (Dynamics 365, HubSpot, Salesforce) does alike against its
emulator: its token cached and refreshed once after the vendor ends it, a refused credential
failing permanently, injected faults and timeouts retryable, a task whose answer was lost not
written twice, journeys left to the marketing tool (but by HubSpot), and incomplete settings
refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from inkbridge.config import DestinationSettings
from inkbridge.errors import ConfigError, PermanentError, RetryableError

from .crm_vendors import DYNAMICS, HUBSPOT, SALESFORCE, VENDORS, CrmVendor
from .faults import (
    DOWN,
    ERROR_500,
    RATE_LIMIT,
    assert_fault_is_retryable,
    assert_timeout_is_retryable,
)
from .payloads import AnswerLostOn, journey_change, task_change
from .vendor_tables import vendor_fixtures

vendor, base_url, app = vendor_fixtures(VENDORS)


async def test_the_token_is_cached_and_refreshed_once_after_the_vendor_ends_it(
    vendor: CrmVendor, app: Starlette, client: httpx.AsyncClient
) -> None:
    auth = vendor.auth(client)
    connector = vendor.connector(client, auth)

    await connector.apply([vendor.change(1)])
    await connector.apply([vendor.change(2)])
    assert auth.exchanges == vendor.emulator(app).token_exchanges == 1
    await client.post(vendor.paths.expire)
    result = await connector.apply([vendor.change(3)])

    assert result.results[0].ok
    assert auth.exchanges == vendor.emulator(app).token_exchanges == 2


async def test_a_refused_credential_is_permanent(
    vendor: CrmVendor, client: httpx.AsyncClient
) -> None:
    connector = vendor.connector(client, vendor.refused(client))

    with pytest.raises(PermanentError) as caught:
        await connector.apply([vendor.change(1)])

    assert vendor.refusal in caught.value.reason


@pytest.mark.parametrize("fault", [RATE_LIMIT, ERROR_500, DOWN])
async def test_injected_faults_are_retryable(
    vendor: CrmVendor, client: httpx.AsyncClient, fault: dict[str, Any]
) -> None:
    connector = vendor.connector(client, vendor.auth(client))

    await assert_fault_is_retryable(client, fault, lambda: connector.apply([vendor.change(1)]))


async def test_a_timeout_is_retryable(vendor: CrmVendor, app: Starlette) -> None:
    await assert_timeout_is_retryable(
        app,
        vendor.base,
        vendor.paths.timeout,
        lambda c: lambda: vendor.connector(c, vendor.auth(c)).apply([vendor.change(1)]),
    )


async def test_a_task_whose_answer_was_lost_is_retried_without_duplicating_it(
    vendor: CrmVendor, app: Starlette
) -> None:
    lossy = AnswerLostOn(app, vendor.paths.task)
    async with httpx.AsyncClient(transport=lossy, base_url=vendor.base) as c:
        connector = vendor.connector(c, vendor.auth(c))
        with pytest.raises(RetryableError):
            await connector.apply([task_change(1)])
        retry = await connector.apply([task_change(1, uncertain=True)])

    assert lossy.lost == 1
    assert retry.results[0].ok
    assert len(vendor.tasks(vendor.emulator(app))) == 1


# HubSpot runs journeys itself, through its lists.
@pytest.mark.parametrize("vendor", [DYNAMICS, SALESFORCE], ids=lambda v: v.name, indirect=True)
async def test_journeys_are_left_to_the_marketing_tool(
    vendor: CrmVendor, app: Starlette, client: httpx.AsyncClient
) -> None:
    connector = vendor.connector(client, vendor.auth(client))

    result = await connector.apply([journey_change(1)])

    assert result.results[0].ok
    assert vendor.emulator(app).state()["requests"]["requests_total"] == 0


@pytest.mark.parametrize(
    "crm,url,credentials,options",
    [
        (DYNAMICS, None, {"client_secret": "env:X"}, {"tenant_id": "t", "client_id": "c"}),
        (DYNAMICS, DYNAMICS.base, {"client_secret": "env:X"}, {"client_id": "c"}),
        (
            DYNAMICS,
            DYNAMICS.base,
            {"client_secret": "env:X"},
            {"tenant_id": "t", "client_id": "c", "owners": {"owner-7": "not-a-guid"}},
        ),
        (HUBSPOT, None, {}, {}),
        (HUBSPOT, None, {"client_secret": "env:X", "refresh_token": "env:X"}, {}),
        (HUBSPOT, None, {"token": "env:X"}, {"owners": ["a"]}),
        (SALESFORCE, None, {}, {"client_id": "x"}),
        # Client credentials need My Domain; JWT needs a username.
        (SALESFORCE, None, {"client_secret": "env:X"}, {"client_id": "x"}),
        (SALESFORCE, None, {"private_key": "env:X"}, {"client_id": "x"}),
        (
            SALESFORCE,
            None,
            {"client_secret": "env:X"},
            {
                "client_id": "x",
                "login_url": "https://a.my.salesforce.com",
                "person_object": "Account",
            },
        ),
    ],
    ids=lambda value: value.name if isinstance(value, CrmVendor) else None,
)
async def test_from_settings_refuses_incomplete_config(
    monkeypatch: pytest.MonkeyPatch,
    crm: CrmVendor,
    url: str | None,
    credentials: dict[str, str],
    options: dict[str, Any],
) -> None:
    monkeypatch.setenv("X", "x")
    dest = DestinationSettings(kind=crm.name, url=url, credentials=credentials, options=options)

    async with httpx.AsyncClient() as http:
        with pytest.raises(ConfigError):
            crm.from_settings(dest, http)
