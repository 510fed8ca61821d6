"""What every marketing connector (Marketo, Mautic, Pipedrive) does alike against its
emulator: injected faults retryable, an OAuth token the vendor ended fetched again, rejected
client credentials failing permanently, and incomplete settings refused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from inkbridge.config import DestinationSettings
from inkbridge.errors import ConfigError, PermanentError

from .faults import DOWN, ERROR_500, RATE_LIMIT, assert_fault_is_retryable
from .marketing_payloads import consent_change, lead_change
from .marketing_vendors import (
    MARKETO,
    MAUTIC,
    PIPEDRIVE,
    PIPEDRIVE_KEY_FIELD,
    VENDORS,
    MarketingVendor,
)
from .vendor_tables import vendor_fixtures

OAUTH = [MARKETO, MAUTIC]  # Pipedrive's API token does not expire


vendor, base_url, app = vendor_fixtures(VENDORS)


# Marketo's own rate limits answer 606 in a 200 (test_marketo_limits.py), never a 429.
FAULTS = [(MARKETO, ERROR_500), (MARKETO, DOWN)] + [
    (vendor, fault) for vendor in (MAUTIC, PIPEDRIVE) for fault in (RATE_LIMIT, ERROR_500, DOWN)
]


@pytest.mark.parametrize(
    "vendor,fault",
    [
        pytest.param(vendor, *fault.values, id=f"{vendor.name}-{fault.id}")
        for vendor, fault in FAULTS
    ],
    indirect=["vendor"],
)
async def test_injected_faults_are_retryable(
    vendor: MarketingVendor, client: httpx.AsyncClient, fault: dict[str, Any]
) -> None:
    connector = vendor.connector(client, vendor.secret)

    await assert_fault_is_retryable(client, fault, lambda: connector.apply([lead_change()]))


@pytest.mark.parametrize("vendor", OAUTH, ids=lambda v: v.name, indirect=True)
async def test_an_expired_token_is_fetched_again(
    vendor: MarketingVendor, app: Starlette, client: httpx.AsyncClient
) -> None:
    connector = vendor.connector(client, vendor.secret)
    await connector.apply([lead_change()])
    await client.post("/_expire_tokens")

    result = await connector.apply([consent_change("withdrawn")])

    assert result.results[0].ok
    assert vendor.emulator(app).tokens_issued == 2


@pytest.mark.parametrize("vendor", OAUTH, ids=lambda v: v.name, indirect=True)
async def test_rejected_client_credentials_are_permanent(
    vendor: MarketingVendor, client: httpx.AsyncClient
) -> None:
    with pytest.raises(PermanentError):
        await vendor.connector(client, "wrong").apply([lead_change()])


@pytest.mark.parametrize(
    "marketing,settings",
    [
        (MARKETO, {"credentials": {"client_secret": "env:X"}}),  # no url nor munchkin id
        (
            MARKETO,
            {
                "url": MARKETO.base,
                "options": {"client_id": "cid", "journeys": {"x": {}}},
                "credentials": {"client_secret": "env:X"},
            },
        ),
        (MAUTIC, {"url": MAUTIC.base}),
        (MAUTIC, {}),
        (PIPEDRIVE, {"credentials": {"api_token": "env:X"}}),
        (PIPEDRIVE, {"options": {"key_field": PIPEDRIVE_KEY_FIELD}}),
    ],
    ids=lambda value: value.name if isinstance(value, MarketingVendor) else None,
)
async def test_from_settings_refuses_incomplete_settings(
    monkeypatch: pytest.MonkeyPatch, marketing: MarketingVendor, settings: dict[str, Any]
) -> None:
    monkeypatch.setenv("X", "x")
    dest = DestinationSettings(kind=marketing.name, **settings)

    async with httpx.AsyncClient() as http:
        with pytest.raises(ConfigError):
            marketing.from_settings(dest, http)
